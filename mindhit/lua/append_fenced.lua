-- Append one table-changelog entry only while this worker holds the partition's lease.
-- KEYS[1] the partition's lease hash, KEYS[2] the changelog partition stream (same hash
-- tag {pN}, so one Redis Cluster slot); ARGV[1] member id, ARGV[2..] field, value pairs.
-- A worker that lost the partition (paused past its lease, partitioned away) can never
-- add to the table the new owner recovered. Returns the new entry id (dense, XADD 0-*).
if redis.call('HGET', KEYS[1], 'lease.member') ~= ARGV[1] then
  return redis.error_reply('FENCED partition lease not held by ' .. ARGV[1])
end
return redis.call('XADD', KEYS[2], '0-*', unpack(ARGV, 2))
