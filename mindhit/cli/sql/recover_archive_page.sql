-- One page of one stream's archive for `mindhit recover`, in log order (an entry split
-- per user: its parts in part order, joined again by the caller).
SELECT "offset", logged_at, key, value, headers
FROM event_log
WHERE topic = %s AND partition = %s AND "offset" >= %s AND "offset" < %s
ORDER BY "offset", part
