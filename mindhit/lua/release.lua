-- Give up a partition lease if this member holds it (no wait for expiry).
-- KEYS[1] the partition's lease hash; ARGV[1] member id. Returns 1 when released.
if redis.call('HGET', KEYS[1], 'lease.member') == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'lease.member', 'lease.expires')
  return 1
end
return 0
