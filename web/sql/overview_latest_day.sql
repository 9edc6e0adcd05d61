-- The user's latest day (not after %(today)s) with attended time, from the daily rollup,
-- not counting the visits of sessions they deleted (hidden at once, though the rollups
-- keep them until the deletion takes effect): where the overview opens.
WITH gone AS (
    SELECT (v.start_at AT TIME ZONE 'UTC')::date AS day, count(*) AS visits
    FROM session_deletions d
    JOIN page_visits v ON v.user_id = d.user_id AND v.session_id = d.session_id
    WHERE d.user_id = %(user_id)s AND d.state <> 'cancelled'
    GROUP BY 1
)
SELECT o.day FROM overview_days o
LEFT JOIN gone g ON g.day = o.day
WHERE o.user_id = %(user_id)s AND o.day <= %(today)s AND o.visits - coalesce(g.visits, 0) > 0
ORDER BY o.day DESC
LIMIT 1
