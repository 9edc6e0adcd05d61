-- Store one partition's committed offsets only while this worker holds its lease (fencing).
-- KEYS[1] the partition's lease hash, KEYS[2] the group's offsets hash of that partition
-- (both carry the partition's hash tag {pN}: one Redis Cluster slot);
-- ARGV[1] member id, ARGV[2] lease ttl in milliseconds, ARGV[3..] field, offset pairs.
-- A lease still naming this worker is ours even if it expired (say Redis was down
-- longer than the ttl): nobody can have taken it without overwriting the member, so
-- the commit goes ahead and extends it. A released (absent) lease is not retaken
-- here. Returns 1 when stored, 0 otherwise.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local holder = redis.call('HGET', KEYS[1], 'lease.member')
if holder ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'lease.member', ARGV[1], 'lease.expires', now + tonumber(ARGV[2]))
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return 1
