-- One page of one stream's archive, in log order (an entry split per user: part order).
SELECT "offset", value
FROM event_log
WHERE topic = %s AND partition = %s AND "offset" >= %s AND "offset" < %s
ORDER BY "offset", part
