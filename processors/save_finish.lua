-- Last step of a state save on a standalone Redis (after save_guard.lua and the HSET of the
-- states, in one MULTI: nothing else runs in between). Fenced by the partition lease: a
-- worker that lost the partition (paused past its lease) leaves the state hash as the new
-- owner keeps it (its HSET went into a fresh hash, dropped here; the hash save_guard.lua
-- moved aside comes back) and gets FENCED. Else, as save_state.lua after its HSET: note
-- the users' save time and let the state of users gone quiet expire.
-- KEYS[1] the state hash, KEYS[2] its sorted set user -> last write (Redis time, ms),
-- KEYS[3] the lease hash, KEYS[4] the aside key; ARGV[1] member id ('' = unfenced),
-- ARGV[2] the state's life in ms (0 = forever), ARGV[3] how many expired users one call
-- removes at most, ARGV[4..] the users saved. Returns the number of users expired.
if ARGV[1] ~= '' and redis.call('HGET', KEYS[3], 'lease.member') ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  if redis.call('EXISTS', KEYS[4]) == 1 then
    redis.call('RENAME', KEYS[4], KEYS[1])
  end
  return redis.error_reply('FENCED partition lease not held by ' .. ARGV[1])
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local members = {}
for i = 4, #ARGV do
  members[#members + 1] = now
  members[#members + 1] = ARGV[i]
  if #members == 1000 or i == #ARGV then -- unpack's stack is limited
    redis.call('ZADD', KEYS[2], unpack(members))
    members = {}
  end
end
-- (processors/state_expiry.lua follows: this script's tail, appended when it is loaded)
