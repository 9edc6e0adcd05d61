#!lua
-- Idempotent, atomic append of one raw-log entry holding one or more uploads.
--
-- The `#!lua` shebang (no `allow-oom` flag) makes Redis refuse the whole script
-- with an OOM error *before* it runs when memory is over `maxmemory`, so an
-- append is all-or-nothing: entry and idempotency state together.
--
-- Idempotency state is one string per (user, client): the client's most recent
-- batches, oldest first, each a 24-byte record (16-byte batch id, then the entry's
-- sequence number as an 8-byte big-endian integer; 0 = remembered with no entry).
-- At most ARGV[3] records are kept, so the state is bounded per client, not per
-- upload; it expires ARGV[2] seconds after the client's last upload.
--
-- KEYS[1]    the partition stream (written only with XADD 0-*: dense offsets)
-- KEYS[2]    the partition's log epoch (mindhit/log_epoch.py)
-- KEYS[3..]  one idempotency state per (user, client) of the uploads, all in the
--            stream's hash slot
-- ARGV[1]    "append", or "remember": record the batches without any entry (their
--            events were all refused); the epoch and ARGV[5..8] are then ignored
-- ARGV[2]    state time-to-live, seconds
-- ARGV[3]    most records kept per state (the window)
-- ARGV[4]    the log epoch the caller expects, or "*<new id>": any, creating <new id>
--            when the partition has none (a first append; a fresh epoch under old
--            checkpoints is still seen by every consumer: it differs from theirs)
-- ARGV[5..8] entry fields k, v, t, h (h = "" means no headers)
-- ARGV[9..]  per upload, in order: the index of its state in KEYS, its 16-byte batch id
--
-- Returns {1, entry_id} when appended ({1, ""} when remembered), {0, i, s, j, s, ...}
-- listing the (0-based) uploads already recorded with their entry's sequence number
-- (0: none), or {-1, epoch} when the partition's epoch is not the expected one (Redis
-- lost the log: appending would bury the entry under the consumers' checkpoints); in
-- the last two cases no entry is written. Each duplicate's state is then set again
-- (same records, fresh TTL): a write that replicates after the first attempt's entry,
-- so a WAIT on this connection returns only once replicas hold that entry too (a retry
-- is acknowledged only as durable as a first write; the first attempt's own WAIT may
-- have timed out).
local RECORD = 24
local append = ARGV[1] == 'append'
local ttl = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
if append then
  local epoch = redis.call('GET', KEYS[2])
  if epoch and string.sub(epoch, 1, 11) == 'recovering:' then
    return {-1, epoch}  -- mindhit recover is rebuilding this partition's log
  end
  if string.sub(ARGV[4], 1, 1) == '*' then
    if not epoch then
      epoch = string.sub(ARGV[4], 2)
      redis.call('SET', KEYS[2], epoch)
    end
  elseif epoch ~= ARGV[4] then
    return {-1, epoch or ''}
  end
end

local states = {}
local function state(index)
  local value = states[index]
  if value == nil then
    value = redis.call('GET', KEYS[index]) or ''
    states[index] = value
  end
  return value
end

local function recorded(value, batch)
  for at = 1, #value - RECORD + 1, RECORD do
    if string.sub(value, at, at + 15) == batch then
      return struct.unpack('>I8', value, at + 16)
    end
  end
  return nil
end

local duplicates = {0}
local touched = {}
for i = 9, #ARGV, 2 do
  local index = tonumber(ARGV[i])
  local seq = recorded(state(index), ARGV[i + 1])
  if seq then
    duplicates[#duplicates + 1] = (i - 9) / 2
    duplicates[#duplicates + 1] = seq
    touched[index] = true
  end
end
if #duplicates > 1 then
  for index in pairs(touched) do
    redis.call('SET', KEYS[index], states[index], 'EX', ttl)
  end
  return duplicates
end

local id = ''
local seq = 0
if append then
  if ARGV[8] == '' then
    id = redis.call('XADD', KEYS[1], '0-*', 'k', ARGV[5], 'v', ARGV[6], 't', ARGV[7])
  else
    id = redis.call('XADD', KEYS[1], '0-*', 'k', ARGV[5], 'v', ARGV[6], 't', ARGV[7], 'h', ARGV[8])
  end
  seq = tonumber(string.sub(id, 3))
end
for i = 9, #ARGV, 2 do
  local index = tonumber(ARGV[i])
  local value = state(index) .. ARGV[i + 1] .. struct.pack('>I8', seq)
  local excess = #value - window * RECORD
  if excess > 0 then
    value = string.sub(value, excess + 1)
  end
  states[index] = value
  touched[index] = true
end
for index in pairs(touched) do
  redis.call('SET', KEYS[index], states[index], 'EX', ttl)
end
return {1, id}
