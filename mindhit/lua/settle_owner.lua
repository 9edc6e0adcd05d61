-- A session's owner key once the projector has written the session's row: its life is
-- cut (or renewed) to the settled TTL, but only while it still names that owner.
-- KEYS[1] <prefix>:session-owner:<session_id>; ARGV[1] the owner the row was written
-- for, ARGV[2] the settled TTL in seconds. Returns 1 when the key was settled, else 0
-- (gone, or naming someone else: never shortened on their behalf).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
