-- Full-text search over what the user read: titles, topics and summaries (urls.search)
-- and page text (page_texts.search), both GIN-indexed. Matching URLs are scored first,
-- kept only when this user visited them (an index probe on page_visits_user_url that
-- stops at the first visit), and only the top ones are decorated with their latest
-- visit, snippet and the sessions they were read in (up to five, newest first).
WITH q AS MATERIALIZED (SELECT websearch_to_tsquery('english', %(q)s) AS query),
scored AS (
    SELECT url_hash, sum(rank) AS rank
    FROM (
        SELECT u.url_hash, ts_rank(u.search, q.query) * 2 AS rank
        FROM urls u, q
        WHERE u.search @@ websearch_to_tsquery('english', %(q)s)
        UNION ALL
        SELECT u.url_hash, ts_rank(t.search, q.query) AS rank
        FROM page_texts t JOIN urls u ON u.content_hash = t.content_hash, q
        WHERE t.search @@ websearch_to_tsquery('english', %(q)s)
    ) found
    GROUP BY url_hash
),
mine AS (
    SELECT s.url_hash, s.rank FROM scored s
    WHERE EXISTS (
        SELECT 1 FROM page_visits v WHERE v.user_id = %(user_id)s AND v.url_hash = s.url_hash
    )
    ORDER BY s.rank DESC, s.url_hash
    LIMIT %(limit)s
)
SELECT m.url_hash, v.url, coalesce(nullif(v.title, ''), u.title, '') AS title, v.domain,
       coalesce(u.summary, ''), coalesce(u.topic, ''), coalesce(u.tags, '{}'),
       ts_headline('english', coalesce(u.summary, '') || ' … ' || left(coalesce(t.text, ''), 4000),
                   q.query,
                   'StartSel=' || chr(1) || ', StopSel=' || chr(2)
                   || ', MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "')
           AS snippet,
       coalesce(r.session_ids, '{}'), coalesce(r.session_starts, '{}')
FROM mine m
CROSS JOIN q
JOIN LATERAL (
    SELECT pv.url, pv.title, pv.domain, pv.content_hash FROM page_visits pv
    WHERE pv.user_id = %(user_id)s AND pv.url_hash = m.url_hash
    ORDER BY pv.start_at DESC LIMIT 1
) v ON true
LEFT JOIN LATERAL (
    SELECT title, summary, topic, tags, content_hash FROM urls
    WHERE urls.url_hash = m.url_hash
    ORDER BY (urls.content_hash = v.content_hash) DESC, urls.enriched_at DESC NULLS LAST
    LIMIT 1
) u ON true
LEFT JOIN page_texts t ON t.content_hash = coalesce(nullif(v.content_hash, ''), u.content_hash)
LEFT JOIN LATERAL (
    SELECT array_agg(x.session_id::text ORDER BY x.started_at DESC) AS session_ids,
           array_agg(x.started_at ORDER BY x.started_at DESC) AS session_starts
    FROM (
        SELECT DISTINCT ON (s.started_at, s.session_id) s.session_id, s.started_at
        FROM page_visits pv JOIN sessions s ON s.session_id = pv.session_id
        WHERE pv.user_id = %(user_id)s AND pv.url_hash = m.url_hash
        ORDER BY s.started_at DESC, s.session_id
        LIMIT 5
    ) x
) r ON true
ORDER BY m.rank DESC, m.url_hash
