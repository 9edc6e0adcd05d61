-- Per-user token buckets of the gateway: one for requests, one for bytes (one hash key,
-- so one Redis Cluster slot). Refill, then take one request and `cost` bytes, or nothing.
--
-- KEYS[1]   the user's quota hash: r (request tokens), b (byte tokens), t (last refill, ms)
-- ARGV[1]   now, Unix ms (the gateway's clock; a clock behind the stored t refills nothing)
-- ARGV[2,3] requests per second, request burst (rate 0 = no request quota)
-- ARGV[4,5] bytes per second, byte burst (rate 0 = no byte quota)
-- ARGV[6]   bytes this request costs
--
-- Returns {verdict, wait_ms}: verdict "ok" (taken), "requests" or "bytes" (refused,
-- nothing taken; wait_ms until both buckets can pay; cost must not exceed the byte burst). The key expires once both buckets
-- would be full again, so an idle user's quota costs Redis nothing.
local now = tonumber(ARGV[1])
local rrate, rburst = tonumber(ARGV[2]), tonumber(ARGV[3])
local brate, bburst = tonumber(ARGV[4]), tonumber(ARGV[5])
local cost = tonumber(ARGV[6])
local state = redis.call('HMGET', KEYS[1], 'r', 'b', 't')
local r = tonumber(state[1]) or rburst
local b = tonumber(state[2]) or bburst
local t = tonumber(state[3]) or now
local elapsed = math.max(0, now - t)
if rrate > 0 then r = math.min(rburst, r + elapsed * rrate / 1000) end
if brate > 0 then b = math.min(bburst, b + elapsed * brate / 1000) end
-- when short, wait until both buckets can pay; the verdict names the quota that takes
-- longer to refill (EPS: a refill computed in floating point counts as exact)
local EPS = 1e-6
local rwait, bwait = 0, 0
if rrate > 0 and r < 1 - EPS then rwait = math.ceil((1 - r) * 1000 / rrate) end
if brate > 0 and b < cost - EPS then bwait = math.ceil((cost - b) * 1000 / brate) end
local verdict, wait = 'ok', 0
if rwait > 0 or bwait > 0 then
  if rwait >= bwait then verdict, wait = 'requests', rwait else verdict, wait = 'bytes', bwait end
else
  if rrate > 0 then r = r - 1 end
  if brate > 0 then b = b - cost end
end
redis.call('HSET', KEYS[1], 'r', tostring(r), 'b', tostring(b), 't', tostring(math.max(now, t)))
local full = 0
if rrate > 0 then full = math.max(full, (rburst - r) * 1000 / rrate) end
if brate > 0 then full = math.max(full, (bburst - b) * 1000 / brate) end
redis.call('PEXPIRE', KEYS[1], math.ceil(full) + 1000)
return {verdict, wait}
