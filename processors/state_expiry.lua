-- The tail of save_state.lua and save_finish.lua (appended to each when loaded,
-- processors/state.py): let the state of users gone quiet expire, up to ARGV[3] of them
-- per call. Uses their `now` (Redis time, ms); KEYS[1] the state hash, KEYS[2] its sorted
-- set user -> last write, ARGV[2] the state's life in ms (0 = forever). Returns the number
-- of users expired.
local ttl = tonumber(ARGV[2])
if ttl <= 0 then
  return 0
end
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - ttl, 'LIMIT', 0, tonumber(ARGV[3]))
for _, user in ipairs(old) do
  redis.call('HDEL', KEYS[1], user)
  redis.call('ZREM', KEYS[2], user)
end
return #old
