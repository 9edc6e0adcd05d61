-- Attended time per day for the calendar heatmap (a year of overview_days rows at most),
-- without the visits of sessions the user deleted (hidden at once, though the rollups keep
-- them until the deletion takes effect and the projector takes them out).
WITH gone AS (
    SELECT (v.start_at AT TIME ZONE 'UTC')::date AS day, sum(v.dwell_ms) AS dwell_ms,
           count(*) AS visits
    FROM session_deletions d
    JOIN page_visits v ON v.user_id = d.user_id AND v.session_id = d.session_id
    WHERE d.user_id = %(user_id)s AND d.state <> 'cancelled'
      AND v.start_at >= %(start)s::date::timestamp AT TIME ZONE 'UTC'
      AND v.start_at < %(end)s::date::timestamp AT TIME ZONE 'UTC'
    GROUP BY 1
)
SELECT o.day, o.dwell_ms - coalesce(g.dwell_ms, 0) FROM overview_days o
LEFT JOIN gone g ON g.day = o.day
WHERE o.user_id = %(user_id)s AND o.day >= %(start)s AND o.day < %(end)s
  AND o.visits - coalesce(g.visits, 0) > 0
ORDER BY o.day
