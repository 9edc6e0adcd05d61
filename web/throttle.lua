-- Sign-in throttle (web/throttle.py holds the same rule as the pure function `reserve`).
-- KEYS[1] the (account, address-or-device) bucket, KEYS[2] the address bucket (same
-- hash tag). Each bucket is a hash {n = attempts counted, next = unix ms before which
-- no attempt is allowed}.
-- ARGV[1] 'attempt' | 'success', ARGV[2] now (unix ms), ARGV[3] 1 = use KEYS[2],
-- ARGV[4..7] pair policy (free, base_ms, max_ms, ttl_ms), ARGV[8..11] address policy.
-- attempt: if either bucket is waiting, return {0, wait_ms} and change nothing; else
--   count the attempt in both (the n-th beyond `free` makes the next one wait
--   base * 2^(n - free), at most max) and return {1, 0}.
-- success: forget the pair bucket; give the address bucket its attempt back.
local now = tonumber(ARGV[2])
local use_addr = ARGV[3] == '1'

local function load(key)
  local v = redis.call('HMGET', key, 'n', 'next')
  return tonumber(v[1]) or 0, tonumber(v[2]) or 0
end

local function count(key, n, free, base, max, ttl)
  n = n + 1
  local next_at = 0
  if n >= free then
    next_at = now + math.min(base * 2 ^ (n - free), max)
  end
  redis.call('HSET', key, 'n', n, 'next', next_at)
  redis.call('PEXPIRE', key, ttl + math.max(next_at - now, 0))
end

if ARGV[1] == 'success' then
  redis.call('DEL', KEYS[1])
  if use_addr then
    local n, next_at = load(KEYS[2])
    if n > 0 then
      n = n - 1
      if n < tonumber(ARGV[8]) then next_at = 0 end
      redis.call('HSET', KEYS[2], 'n', n, 'next', next_at)
    end
  end
  return {1, 0}
end

local n1, next1 = load(KEYS[1])
local wait = math.max(next1 - now, 0)
local n2, next2 = 0, 0
if use_addr then
  n2, next2 = load(KEYS[2])
  wait = math.max(wait, next2 - now)
end
if wait > 0 then
  return {0, wait}
end
count(KEYS[1], n1, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))
if use_addr then
  count(KEYS[2], n2, tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]))
end
return {1, 0}
