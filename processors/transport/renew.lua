-- Acquire or extend the group's lease for this worker.
-- The lease lives in the group's offsets hash (fields lease.member, lease.expires in
-- Redis-time milliseconds) so commits can check it in the same single-key script.
-- KEYS[1] offsets hash; ARGV[1] member id, ARGV[2] ttl in milliseconds.
-- Returns 1 when this worker holds the lease afterwards, 0 when someone else does.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = redis.call('HGET', KEYS[1], 'lease.member')
local expires = tonumber(redis.call('HGET', KEYS[1], 'lease.expires') or '0')
if holder == false or holder == ARGV[1] or expires < now then
  redis.call('HSET', KEYS[1], 'lease.member', ARGV[1], 'lease.expires', now + tonumber(ARGV[2]))
  return 1
end
return 0
