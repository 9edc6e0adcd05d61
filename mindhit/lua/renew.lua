-- Acquire or extend one partition lease of a group for this member.
-- The lease hash has fields lease.member and lease.expires (Redis-time milliseconds).
-- KEYS[1] the partition's lease hash; ARGV[1] member id, ARGV[2] ttl in milliseconds;
-- ARGV[3] '1' for a renewal of a lease the member holds (its heartbeat's), absent for a
-- take. A renewal never revives this member's lapsed lease: one a frozen node executes
-- only after it thawed (sent before the freeze, by a member perhaps dead since) would
-- otherwise hold the lease a whole lease past the thaw, however long the freeze lasted.
-- Returns 1 when this worker holds the lease afterwards, 0 when someone else does, -1
-- when a renewal found its lease lapsed (nothing changed: the member takes it again).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = redis.call('HGET', KEYS[1], 'lease.member')
local expires = tonumber(redis.call('HGET', KEYS[1], 'lease.expires') or '0')
if ARGV[3] == '1' and holder == ARGV[1] and expires < now then
  return -1
end
if holder == false or holder == ARGV[1] or expires < now then
  redis.call('HSET', KEYS[1], 'lease.member', ARGV[1], 'lease.expires', now + tonumber(ARGV[2]))
  return 1
end
return 0
