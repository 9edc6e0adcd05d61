-- The sessions behind one overview figure: visits of the user in [start, end), narrowed to
-- a domain, a page (url_hash), a page tag or a map topic when given; newest first.
WITH behind AS (
    SELECT DISTINCT v.session_id
    FROM page_visits v
    WHERE v.user_id = %(user_id)s
      AND v.start_at >= %(start)s::date::timestamp AT TIME ZONE 'UTC'
      AND v.start_at < %(end)s::date::timestamp AT TIME ZONE 'UTC'
      AND (%(domain)s::text IS NULL OR v.domain = %(domain)s)
      AND (%(page)s::text IS NULL OR v.url_hash = %(page)s)
      AND (%(tag)s::text IS NULL OR EXISTS (
          SELECT 1 FROM urls u WHERE u.url_hash = v.url_hash
            AND u.content_hash = v.content_hash AND %(tag)s = ANY(u.tags)))
      AND %(topic)s::text IS NULL
    UNION
    SELECT b.session_id FROM overview_branches b
    WHERE %(topic)s::text IS NOT NULL AND b.user_id = %(user_id)s AND b.label = %(topic)s
      AND b.day >= %(start)s AND b.day < %(end)s
)
SELECT s.session_id::text, s.status, s.status_reason, coalesce(l.label, s.label),
       s.started_at, s.stopped_at, s.active_ms, s.page_count, s.domain_count,
       s.last_event_at, '{}'::text[]
FROM behind b
JOIN sessions s ON s.session_id = b.session_id AND s.user_id = %(user_id)s
LEFT JOIN session_labels l ON l.user_id = s.user_id AND l.session_id = s.session_id
WHERE NOT EXISTS (SELECT 1 FROM session_deletions d
                  WHERE d.user_id = s.user_id AND d.session_id = s.session_id
                    AND d.state <> 'cancelled')
ORDER BY s.started_at DESC, s.session_id DESC
LIMIT %(limit)s
