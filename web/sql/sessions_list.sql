-- A page of the user's sessions, newest first, with their top three domains by dwell.
-- The page is chosen first (index sessions_user_started), so the per-session domain
-- totals are computed for those rows only. A name the user gave wins over the recorded
-- label; sessions the user deleted (even within the undo window) are not listed.
SELECT s.session_id::text, s.status, s.status_reason, coalesce(l.label, s.label),
       s.started_at, s.stopped_at,
       s.active_ms, s.page_count, s.domain_count, s.last_event_at,
       coalesce(d.domains, '{}') AS top_domains
FROM (
    SELECT * FROM sessions
    WHERE user_id = %(user_id)s
      AND (%(before)s::timestamptz IS NULL OR started_at < %(before)s::timestamptz)
      AND NOT EXISTS (SELECT 1 FROM session_deletions d
                      WHERE d.user_id = sessions.user_id AND d.session_id = sessions.session_id
                        AND d.state <> 'cancelled')
    ORDER BY started_at DESC, session_id DESC
    LIMIT %(limit)s
) s
LEFT JOIN session_labels l ON l.user_id = s.user_id AND l.session_id = s.session_id
LEFT JOIN LATERAL (
    SELECT array_agg(domain ORDER BY dwell DESC, domain) AS domains
    FROM (
        SELECT v.domain, sum(v.dwell_ms) AS dwell
        FROM page_visits v
        WHERE v.session_id = s.session_id AND v.user_id = s.user_id
        GROUP BY v.domain
        ORDER BY dwell DESC, v.domain
        LIMIT 3
    ) top
) d ON true
ORDER BY s.started_at DESC, s.session_id DESC
