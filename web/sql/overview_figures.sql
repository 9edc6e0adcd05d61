-- The overview's figures for one user and one period [start, end), all from the rollups
-- the projector keeps, never from page_visits. {pages} is the period's most-read page
-- versions (%(tag_pages)s of them, by time): read off the monthly rollup's index for a
-- month, summed from the daily rollup for a day or week; {domains}/{bucket} likewise.
-- A top page's title is the latest one the user saw there (one probe of their own visits
-- per top page): the shared urls row keeps no title, so no other user's title shows.
-- Most-read pages and tags are computed over those versions (the long tail of pages read
-- for seconds barely moves a tag). kind: day | domain | page | tag | topic.
WITH pages AS MATERIALIZED ({pages}),
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
SELECT 'day' AS kind, day::text AS key, '' AS label, '' AS extra, dwell_ms, visits::bigint
FROM overview_days
WHERE user_id = %(user_id)s AND day >= %(start)s AND day < %(end)s
UNION ALL
(SELECT 'domain', domain, domain, '', sum(dwell_ms), sum(visits)
 FROM {domains}
 WHERE user_id = %(user_id)s AND {bucket} >= %(start)s AND {bucket} < %(end)s
 GROUP BY domain ORDER BY sum(dwell_ms) DESC, domain LIMIT %(top)s)
UNION ALL
SELECT 'page', b.url_hash, coalesce(nullif(t.title, ''), u.url, b.url_hash), coalesce(u.url, ''),
       b.dwell_ms, b.visits
FROM by_url b
LEFT JOIN urls u ON u.url_hash = b.url_hash AND u.content_hash = b.content_hash
LEFT JOIN LATERAL (
    SELECT v.title FROM page_visits v
    WHERE v.user_id = %(user_id)s AND v.url_hash = b.url_hash AND v.title <> ''
    ORDER BY v.start_at DESC LIMIT 1
) t ON true
UNION ALL
SELECT 'tag', tag, tag, '', dwell_ms, visits FROM tagged
UNION ALL
(SELECT 'topic', label, label, count(DISTINCT session_id)::text, sum(dwell_ms), sum(pages)
 FROM overview_branches
 WHERE user_id = %(user_id)s AND day >= %(start)s AND day < %(end)s AND label <> ''
 GROUP BY label ORDER BY sum(dwell_ms) DESC, label LIMIT %(top)s)
