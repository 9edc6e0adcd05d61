-- One page of one generation's stream, in order.
SELECT seq, value
FROM derived_log
WHERE generation = %s AND topic = %s AND partition = %s AND seq > %s
ORDER BY seq
LIMIT %s
