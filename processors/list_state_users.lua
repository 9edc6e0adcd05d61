-- List the users of a partition's dwell state saved before their last save was noted.
-- KEYS[1] the partition's state hash, KEYS[2] its sorted set user -> last write (Redis
-- time, ms; both carry the partition's hash tag {pN}). When the set has fewer users than
-- the hash, every user of the hash not in it is added as saved now (ZADD NX), so their
-- state expires a life from now unless saved again. Returns the number of users added.
if redis.call('ZCARD', KEYS[2]) >= redis.call('HLEN', KEYS[1]) then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = 0
for _, user in ipairs(redis.call('HKEYS', KEYS[1])) do
  added = added + redis.call('ZADD', KEYS[2], 'NX', now, user)
end
return added
