-- The durable owner of each session id: its read-table row, else the tombstone of a
-- session its owner deleted (the id stays theirs after the row is gone).
SELECT DISTINCT ON (session_id) session_id::text, user_id::text
FROM (
    SELECT session_id, user_id, 0 AS pref FROM sessions WHERE session_id = ANY(%(ids)s::uuid[])
    UNION ALL
    SELECT session_id, user_id, 1 FROM erased_sessions WHERE session_id = ANY(%(ids)s::uuid[])
) found
ORDER BY session_id, pref
