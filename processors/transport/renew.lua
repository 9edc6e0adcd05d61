-- Acquire or extend the group's lease for this worker.
-- KEYS[1] lease key; ARGV[1] member id, ARGV[2] ttl in milliseconds.
-- Returns 1 when this worker holds the lease afterwards, 0 when someone else does.
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
