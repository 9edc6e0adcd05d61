-- The ids of a user's session owner keys that may still be alive (for erasure), scored
-- by when each key expires, so the listing lives no longer than the keys it lists.
-- KEYS[1] <prefix>:session-keys:<user_id> (a sorted set); ARGV[1] 'XX' to update only
-- ids already listed (settling), '' to add; ARGV[2..] ttl in ms, session id pairs.
-- Drops the ids whose keys have expired and sets the listing's own expiry to its
-- latest member's. Returns the number of ids listed afterwards.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV, 2 do
  local at = now + tonumber(ARGV[i])
  if ARGV[1] == 'XX' then
    redis.call('ZADD', KEYS[1], 'XX', at, ARGV[i + 1])
  else
    redis.call('ZADD', KEYS[1], at, ARGV[i + 1])
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then
  return 0
end
redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(last[2])))
return redis.call('ZCARD', KEYS[1])
