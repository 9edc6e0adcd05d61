-- One of the user's sessions (another user's id finds nothing: the caller answers 404).
SELECT s.session_id::text, s.status, s.status_reason, s.label, s.started_at, s.stopped_at,
       s.active_ms, s.page_count, s.domain_count, s.last_event_at,
       '{}'::text[] AS top_domains
FROM sessions s
WHERE s.session_id = %(session_id)s AND s.user_id = %(user_id)s
