-- A group member's heartbeat; returns the group's generation and its assignment state.
-- KEYS[1] members sorted set (member -> expiry, Redis time in ms), KEYS[2] group state hash
-- (same hash tag). ARGV[1] member id ('' only reads: changes nothing), ARGV[2] session ttl in ms,
-- ARGV[3] (optional) the latest Redis time in ms the heartbeat may still refresh the member
-- at: one a frozen node runs only after it thawed (sent before the freeze, by a member
-- perhaps dead since) must not count that member live for a whole session past the thaw.
-- Members whose heartbeat expired are dropped; when the sorted list of live members
-- differs from the current generation's view, a new generation starts with that view
-- and no assignment yet (a member computes and publishes it, see publish.lua).
-- Returns {generation, view (ids joined by newlines), assignment or false, last assignment,
-- Redis time in ms, 1 when the member was refreshed (or only read) or 0 when too late}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local refreshed = 1
if ARGV[1] == '' then  -- only reads (a member reading Redis's time before its first beat)
  local state = redis.call('HMGET', KEYS[2], 'generation', 'view', 'assignment', 'last')
  state[5] = now
  state[6] = refreshed
  return state
end
if ARGV[3] == nil or now <= tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
else
  refreshed = 0
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
table.sort(live)
local view = table.concat(live, '\n')
if redis.call('HGET', KEYS[2], 'view') ~= view then
  redis.call('HINCRBY', KEYS[2], 'generation', 1)
  redis.call('HSET', KEYS[2], 'view', view)
  redis.call('HDEL', KEYS[2], 'assignment')
end
local state = redis.call('HMGET', KEYS[2], 'generation', 'view', 'assignment', 'last')
state[5] = now
state[6] = refreshed
return state
