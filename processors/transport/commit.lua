-- Store one partition's committed offsets only while this worker holds its lease (fencing)
-- and the partition's log is the one the offsets were read in (log epoch).
-- KEYS[1] the partition's lease hash, KEYS[2] the group's offsets hash of that partition,
-- KEYS[3] the partition's log epoch key (all carry the partition's hash tag {pN}: one
-- Redis Cluster slot);
-- ARGV[1] member id, ARGV[2] lease ttl in milliseconds, ARGV[3] the epoch the worker read
-- the partition in ('' = none known yet: not checked), ARGV[4] the offsets hash's epoch
-- field of the partition (epoch.p<N>), ARGV[5..] field, offset pairs.
-- A lease still naming this worker is ours even if it expired (say Redis was down
-- longer than the ttl): nobody can have taken it without overwriting the member, so
-- the commit goes ahead and extends it. A released (absent) lease is not retaken
-- here.
-- Returns {1, epoch stamped ('' when the partition has none)} when stored, {0} when the
-- lease is another's, {-1, current epoch or ''} when the partition's epoch is not
-- ARGV[3]: Redis lost the log (or `mindhit recover` rebuilt it) since the worker read it.
-- Then, if the offsets hash lost its stamp too and nobody else holds the lease, the
-- offsets are written back with the old stamp, so `mindhit lag` and the next owner see
-- that this group read the partition in an epoch that is gone (instead of starting
-- afresh on the new log).
local epoch = redis.call('GET', KEYS[3])
local holder = redis.call('HGET', KEYS[1], 'lease.member')
if ARGV[3] ~= '' and epoch ~= ARGV[3] then
  if redis.call('HEXISTS', KEYS[2], ARGV[4]) == 0 and (holder == false or holder == ARGV[1]) then
    for i = 5, #ARGV, 2 do
      redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
    end
    redis.call('HSET', KEYS[2], ARGV[4], ARGV[3])
  end
  return {-1, epoch or ''}
end
if holder ~= ARGV[1] then
  return {0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'lease.member', ARGV[1], 'lease.expires', now + tonumber(ARGV[2]))
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
if epoch then
  redis.call('HSET', KEYS[2], ARGV[4], epoch)
end
return {1, epoch or ''}
