-- Give up the group's lease if this worker holds it (clean shutdown: no wait for expiry).
-- KEYS[1] lease key; ARGV[1] member id. Returns 1 when released.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
