-- First step of a state save on a standalone Redis (processors/state.py): in one MULTI
-- with it, a plain HSET of the states, then save_finish.lua. Not fenced by itself: if
-- this worker does not hold the partition's lease, the state hash is moved aside so the
-- HSET that follows writes into a fresh hash, which save_finish.lua throws away before it
-- moves the hash back. (Through EVAL, the states' bytes would be copied into Lua strings,
-- each hashed byte by byte: ~0.5 ms of Redis's time per save of 143 users, ~480 KB.)
-- KEYS[1] the partition's state hash, KEYS[2] its lease hash, KEYS[3] the aside key (all
-- with the partition's hash tag); ARGV[1] this worker's member id ('' = unfenced).
if ARGV[1] ~= '' and redis.call('HGET', KEYS[2], 'lease.member') ~= ARGV[1] then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('RENAME', KEYS[1], KEYS[3])
  end
  return 0
end
return 1
