-- Store committed offsets only while this worker holds an unexpired group lease (fencing).
-- KEYS[1] offsets hash; ARGV[1] member id, ARGV[2..] field, offset pairs.
-- Returns 1 when stored, 0 when another worker holds the lease or it expired.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = redis.call('HGET', KEYS[1], 'lease.member')
local expires = tonumber(redis.call('HGET', KEYS[1], 'lease.expires') or '0')
if holder ~= ARGV[1] or expires < now then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
return 1
