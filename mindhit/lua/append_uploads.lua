#!lua
-- Idempotent, atomic append of one raw-log entry holding one or more uploads.
--
-- The `#!lua` shebang (no `allow-oom` flag) makes Redis refuse the whole script
-- with an OOM error *before* it runs when memory is over `maxmemory`, so an
-- append is all-or-nothing: entry, dedupe keys and session claims together.
--
-- KEYS[1]    the partition stream (written only with XADD 0-*: dense offsets)
-- KEYS[2]    the partition's session-ownership hash (session_id -> user_id)
-- KEYS[3..]  one dedupe key per upload (user + batch_id), all in the stream's slot
-- ARGV[1]    dedupe key time-to-live, seconds
-- ARGV[2..5] entry fields k, v, t, h (h = "" means no headers)
-- ARGV[6..]  session claims as pairs session_id, user_id (first claimer wins)
--
-- Returns {1, entry_id} when appended, or {0, i, j, ...} listing the (0-based)
-- uploads already appended, in which case no entry is written. Each duplicate's
-- dedupe key is then set again to its own value (KEEPTTL): a write that replicates
-- after the first attempt's entry, so a WAIT on this connection returns only once
-- replicas hold that entry too (a retry is acknowledged only as durable as a first
-- write; the first attempt's own WAIT may have timed out).
local duplicates = {0}
for i = 3, #KEYS do
  local seen = redis.call('GET', KEYS[i])
  if seen then
    duplicates[#duplicates + 1] = i - 3
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
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], id, 'EX', ARGV[1])
end
for i = 6, #ARGV, 2 do
  redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1])
end
return {1, id}
