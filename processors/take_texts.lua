-- Store the page texts of raw entries and record who holds which text, in one call: the
-- work of ContentStore._queue_put and _queue_holds (one command per key: SADD, SET NX,
-- EXPIRE), done by one script on a standalone Redis (a cluster's keys are in many slots,
-- so there the commands go one by one; processors/content.py).
-- ARGV[1] the lifetime in seconds (0: none), ARGV[2] how many listings (L), ARGV[3] how
-- many holds (H), ARGV[4] how many texts (T), then per listing its member count and
-- members, then per hold the user, then per text its compressed text.
-- KEYS: the L users' listings, then per hold the text's holders set and the text's key,
-- then the T texts' keys (written once: SET NX).
-- Returns nothing.
local ttl = tonumber(ARGV[1])
local listings, holds, texts = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local a = 5
for i = 1, listings do
  local n = tonumber(ARGV[a])
  for first = a + 1, a + n, 1000 do -- unpack's stack is limited: 1,000 members a SADD
    redis.call('SADD', KEYS[i], unpack(ARGV, first, math.min(first + 999, a + n)))
  end
  if ttl > 0 then
    redis.call('EXPIRE', KEYS[i], ttl)
  end
  a = a + n + 1
end
for j = 1, holds do
  local holders, text = KEYS[listings + 2 * j - 1], KEYS[listings + 2 * j]
  redis.call('SADD', holders, ARGV[a])
  if ttl > 0 then
    redis.call('EXPIRE', holders, ttl)
    redis.call('EXPIRE', text, ttl)
  end
  a = a + 1
end
for k = 1, texts do
  local key = KEYS[listings + 2 * holds + k]
  redis.call('SET', key, ARGV[a], 'NX')
  if ttl > 0 then
    redis.call('EXPIRE', key, ttl)
  end
  a = a + 1
end
return 0
