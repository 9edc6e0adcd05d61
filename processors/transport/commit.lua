-- Store committed offsets only while this worker holds the group's lease (fencing).
-- KEYS[1] lease key, KEYS[2] offsets hash; ARGV[1] member id, ARGV[2..] field, offset pairs.
-- Returns 1 when stored, 0 when another worker (or nobody) holds the lease.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return 1
