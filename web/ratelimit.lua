-- Fixed-window counter: KEYS[1] counter, ARGV[1] window seconds. Returns {count, ttl}.
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return {count, redis.call('TTL', KEYS[1])}
