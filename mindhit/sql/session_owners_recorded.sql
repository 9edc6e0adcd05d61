-- The durable owner of each session id: its read-table row, else the tombstone of a
-- session its owner deleted (the id stays theirs after the row is gone). A tombstone
-- names its session by erased_session_key(id) (migration 264), or by the id itself
-- when an older projector wrote it.
SELECT DISTINCT ON (session_id) session_id::text, user_id::text
FROM (
    SELECT session_id, user_id, 0 AS pref FROM sessions WHERE session_id = ANY(%(ids)s::uuid[])
    UNION ALL
    SELECT asked.id, e.user_id, 1
    FROM unnest(%(ids)s::uuid[]) AS asked (id)
    JOIN erased_sessions e ON e.session_id IN (erased_session_key(asked.id), asked.id)
) found
ORDER BY session_id, pref
