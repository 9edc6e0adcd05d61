-- One of the user's sessions (another user's id finds nothing: the caller answers 404),
-- with the name the user gave it; a session being deleted is gone already.
SELECT s.session_id::text, s.status, s.status_reason, coalesce(l.label, s.label),
       s.started_at, s.stopped_at,
       s.active_ms, s.page_count, s.domain_count, s.last_event_at,
       '{}'::text[] AS top_domains
FROM sessions s
LEFT JOIN session_labels l ON l.user_id = s.user_id AND l.session_id = s.session_id
WHERE s.session_id = %(session_id)s AND s.user_id = %(user_id)s
  AND NOT EXISTS (SELECT 1 FROM session_deletions d
                  WHERE d.user_id = s.user_id AND d.session_id = s.session_id
                    AND d.state <> 'cancelled')
