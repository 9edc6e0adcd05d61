-- Owners of sessions recorded before the ownership keys existed: the read table's user.
SELECT session_id::text, user_id::text FROM sessions WHERE session_id = ANY(%s::uuid[])
