-- The overview's figures for one user and one period [start, end), from the rollups the
-- projector keeps. {pages} is the period's most-read page versions (%(tag_pages)s of
-- them, by time): read off the monthly rollup's index for a month, summed from the user's
-- visits of the day or week otherwise (web/overview.py _DAY_PAGES); {domains}/{bucket}
-- read the monthly or the daily domain rollup.
-- A top page's title is the latest one the user saw there (latest_title, migration 173:
-- a few probes of their own visits per top page): the shared urls row keeps no title, so
-- no other user's title shows.
-- Most-read pages and tags are computed over those versions (the long tail of pages read
-- for seconds barely moves a tag). kind: day | domain | page | tag | topic.
-- Sessions the user deleted are hidden at once, while the rollups keep their visits until
-- the deletion takes effect: `gone` (their visits in the period, bucketed as the rollups
-- are, by UTC day of start) is taken back out of every figure, and {pages} reads as many
-- more rows as `gone` has pages, so the top list after subtracting is still exact.
WITH hidden AS MATERIALIZED (
    SELECT d.session_id FROM session_deletions d
    WHERE d.user_id = %(user_id)s AND d.state <> 'cancelled'
),
hidden_list AS MATERIALIZED (
    SELECT coalesce(array_agg(session_id), ARRAY[]::uuid[]) AS hidden_ids FROM hidden
),
gone AS MATERIALIZED (
    SELECT (v.start_at AT TIME ZONE 'UTC')::date AS day, v.domain, v.url_hash,
           v.content_hash, v.dwell_ms
    FROM hidden h
    JOIN page_visits v ON v.user_id = %(user_id)s AND v.session_id = h.session_id
    WHERE v.start_at >= %(start)s::date::timestamp AT TIME ZONE 'UTC'
      AND v.start_at < %(end)s::date::timestamp AT TIME ZONE 'UTC'
),
gone_pages AS MATERIALIZED (
    SELECT url_hash, content_hash, sum(dwell_ms) AS dwell_ms, count(*) AS visits
    FROM gone GROUP BY url_hash, content_hash
),
stored_pages AS MATERIALIZED ({pages}),
pages AS MATERIALIZED (
    SELECT p.url_hash, p.content_hash, p.dwell_ms - coalesce(g.dwell_ms, 0) AS dwell_ms,
           p.visits - coalesce(g.visits, 0) AS visits
    FROM stored_pages p
    LEFT JOIN gone_pages g ON g.url_hash = p.url_hash AND g.content_hash = p.content_hash
    WHERE p.visits - coalesce(g.visits, 0) > 0
    ORDER BY 3 DESC, p.url_hash, p.content_hash LIMIT %(tag_pages)s
),
by_url AS (
    SELECT url_hash, sum(dwell_ms) AS dwell_ms, sum(visits) AS visits,
           min(content_hash) AS content_hash
    FROM pages GROUP BY url_hash
    ORDER BY dwell_ms DESC, url_hash LIMIT %(top)s
),
tagged AS (
    SELECT tag, sum(p.dwell_ms) AS dwell_ms, sum(p.visits) AS visits
    FROM pages p
    JOIN urls u ON u.url_hash = p.url_hash AND u.content_hash = p.content_hash
    CROSS JOIN LATERAL unnest(u.tags) AS tag
    GROUP BY tag
    ORDER BY dwell_ms DESC, tag LIMIT %(top)s
)
SELECT 'day' AS kind, o.day::text AS key, '' AS label, '' AS extra,
       o.dwell_ms - coalesce(g.dwell_ms, 0), o.visits - coalesce(g.visits, 0)
FROM overview_days o
LEFT JOIN (SELECT day, sum(dwell_ms) AS dwell_ms, count(*) AS visits FROM gone GROUP BY day) g
    ON g.day = o.day
WHERE o.user_id = %(user_id)s AND o.day >= %(start)s AND o.day < %(end)s
  AND o.visits - coalesce(g.visits, 0) > 0
UNION ALL
(SELECT 'domain', d.domain, d.domain, '', d.dwell_ms - coalesce(g.dwell_ms, 0),
        d.visits - coalesce(g.visits, 0)
 FROM (SELECT domain, sum(dwell_ms) AS dwell_ms, sum(visits) AS visits
       FROM {domains}
       WHERE user_id = %(user_id)s AND {bucket} >= %(start)s AND {bucket} < %(end)s
       GROUP BY domain) d
 LEFT JOIN (SELECT domain, sum(dwell_ms) AS dwell_ms, count(*) AS visits
            FROM gone GROUP BY domain) g ON g.domain = d.domain
 WHERE d.visits - coalesce(g.visits, 0) > 0
 ORDER BY 5 DESC, 2 LIMIT %(top)s)
UNION ALL
SELECT 'page', b.url_hash,
       coalesce(nullif(latest_title(%(user_id)s::uuid, b.url_hash,
                                    (SELECT hidden_ids FROM hidden_list)), ''),
                u.url, b.url_hash),
       coalesce(u.url, ''), b.dwell_ms, b.visits
FROM by_url b
LEFT JOIN urls u ON u.url_hash = b.url_hash AND u.content_hash = b.content_hash
UNION ALL
SELECT 'tag', tag, tag, '', dwell_ms, visits FROM tagged
UNION ALL
(SELECT 'topic', label, label, count(DISTINCT session_id)::text, sum(dwell_ms), sum(pages)
 FROM overview_branches
 WHERE user_id = %(user_id)s AND day >= %(start)s AND day < %(end)s AND label <> ''
   AND session_id NOT IN (SELECT session_id FROM hidden)
 GROUP BY label ORDER BY sum(dwell_ms) DESC, label LIMIT %(top)s)
