-- Save users' dwell fold state, fenced by the partition lease, and let the state of users
-- gone quiet expire.
-- KEYS[1] the partition's state hash, KEYS[2] its sorted set user -> last write (Redis
-- time, ms), KEYS[3] the partition's lease hash (all three carry the partition's hash tag
-- {pN}: one Redis Cluster slot).
-- ARGV[1] this worker's member id ('' = not in a group: unfenced), ARGV[2] the state's
-- life in ms after its last write (0 = forever), ARGV[3] how many expired users one call
-- removes at most, ARGV[4..] user, state pairs.
-- A worker that lost the partition (paused past its lease) cannot overwrite the state the
-- new owner keeps: FENCED error, nothing written. Returns the number of users expired.
if ARGV[1] ~= '' and redis.call('HGET', KEYS[3], 'lease.member') ~= ARGV[1] then
  return redis.error_reply('FENCED partition lease not held by ' .. ARGV[1])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- One HSET and one ZADD per 500 users (unpack's stack is limited), not one per user:
-- each call from Lua costs Redis ~1 us besides the write (a save of ~150 users: ~20 %).
local fields, members = {}, {}
for i = 4, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  members[#members + 1] = now
  members[#members + 1] = ARGV[i]
  if #fields == 1000 or i + 1 >= #ARGV then
    redis.call('HSET', KEYS[1], unpack(fields))
    redis.call('ZADD', KEYS[2], unpack(members))
    fields, members = {}, {}
  end
end
-- (processors/state_expiry.lua follows: this script's tail, appended when it is loaded)
