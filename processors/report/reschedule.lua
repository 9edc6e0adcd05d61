-- Store a failed report's new retry record, but only if it is still in the outbox.
-- A user erased while their report was being sent must not come back through a retry.
-- KEYS[1]: the partition's outbox hash; ARGV[1]: session id; ARGV[2]: msgpack record.
-- Returns 1 when stored, 0 when the record was gone.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
