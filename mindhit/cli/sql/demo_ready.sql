-- How many of the demo's sessions the projector shows as finished.
SELECT count(*)
FROM sessions
WHERE session_id = ANY(%s::uuid[]) AND status IN ('completed', 'failed')
