#!lua
-- Idempotent, atomic append of one raw-log entry holding one or more uploads.
--
-- The `#!lua` shebang (no `allow-oom` flag) makes Redis refuse the whole script
-- with an OOM error *before* it runs when memory is over `maxmemory`, so an
-- append is all-or-nothing: entry, dedupe keys and session claims together.
--
-- KEYS[1]    the partition stream (written only with XADD 0-*: dense offsets)
-- KEYS[2]    the partition's session-ownership hash (session_id -> user_id)
-- KEYS[3]    the partition's log epoch (mindhit/log_epoch.py)
-- KEYS[4..]  one dedupe key per upload (user + batch_id), all in the stream's slot
-- ARGV[1]    dedupe key time-to-live, seconds
-- ARGV[2..5] entry fields k, v, t, h (h = "" means no headers)
-- ARGV[6]    the log epoch the caller expects, or "*<new id>": any, creating <new id>
--            when the partition has none (a first append; a fresh epoch under old
--            checkpoints is still seen by every consumer: it differs from theirs)
-- ARGV[7..]  session claims as pairs session_id, user_id (first claimer wins)
--
-- Returns {1, entry_id} when appended, {0, i, j, ...} listing the (0-based)
-- uploads already appended, or {-1, epoch} when the partition's epoch is not the
-- expected one (Redis lost the log: appending would bury the entry under the
-- consumers' checkpoints); in the last two cases no entry is written. Each
-- duplicate's dedupe key is then set again to its own value (KEEPTTL): a write that
-- replicates after the first attempt's entry, so a WAIT on this connection returns
-- only once replicas hold that entry too (a retry is acknowledged only as durable
-- as a first write; the first attempt's own WAIT may have timed out).
local epoch = redis.call('GET', KEYS[3])
if epoch and string.sub(epoch, 1, 11) == 'recovering:' then
  return {-1, epoch}  -- mindhit recover is rebuilding this partition's log
end
if string.sub(ARGV[6], 1, 1) == '*' then
  if not epoch then
    epoch = string.sub(ARGV[6], 2)
    redis.call('SET', KEYS[3], epoch)
  end
elseif epoch ~= ARGV[6] then
  return {-1, epoch or ''}
end
local duplicates = {0}
for i = 4, #KEYS do
  local seen = redis.call('GET', KEYS[i])
  if seen then
    duplicates[#duplicates + 1] = i - 4
    redis.call('SET', KEYS[i], seen, 'KEEPTTL')
  end
end
if #duplicates > 1 then
  return duplicates
end
local id
if ARGV[5] == '' then
  id = redis.call('XADD', KEYS[1], '0-*', 'k', ARGV[2], 'v', ARGV[3], 't', ARGV[4])
else
  id = redis.call('XADD', KEYS[1], '0-*', 'k', ARGV[2], 'v', ARGV[3], 't', ARGV[4], 'h', ARGV[5])
end
for i = 4, #KEYS do
  redis.call('SET', KEYS[i], id, 'EX', ARGV[1])
end
for i = 7, #ARGV, 2 do
  redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1])
end
return {1, id}
