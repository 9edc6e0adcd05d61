-- When the archived entries at the given offsets of one stream were logged (recover tells
-- the archived entries still in Redis from uploads appended after the loss by this).
SELECT DISTINCT "offset", logged_at
FROM event_log
WHERE topic = %s AND partition = %s AND "offset" = ANY(%s::bigint[])
