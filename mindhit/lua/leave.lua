-- A member leaves its group at once (clean stop): the next heartbeat of any member
-- starts a new generation without it. KEYS[1] members sorted set; ARGV[1] member id.
return redis.call('ZREM', KEYS[1], ARGV[1])
