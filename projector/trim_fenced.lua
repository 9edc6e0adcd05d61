-- Head-trim one stream partition, fenced by the log epoch and the partition's lease.
-- KEYS[1] the stream, KEYS[2] the partition's epoch key, KEYS[3] (optional) the projector
-- group's lease hash of the partition: all carry the partition's hash tag {pN}, one slot.
-- ARGV[1] the entry id to trim below (XTRIM MINID), ARGV[2] the epoch the trimmer's floors
-- were read in ('' = none stamped yet: not checked), ARGV[3] this replica's member id
-- (with KEYS[3]).
-- Returns the number of entries trimmed, -1 when the lease is not held by this replica
-- (taken over, or expired: a paused replica), -2 when the partition's epoch is not the
-- one expected (Redis lost the log after the floors were read).
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return -2
end
if #KEYS >= 3 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local holder = redis.call('HGET', KEYS[3], 'lease.member')
  local expires = tonumber(redis.call('HGET', KEYS[3], 'lease.expires') or '0')
  if holder ~= ARGV[3] or expires < now then
    return -1
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
