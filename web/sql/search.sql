-- Full-text search over what the user read: titles, topics and summaries (urls.search)
-- and page text (page_texts.search), both GIN-indexed. A match counts only for a
-- (url, content version) pair this user visited, so another user's version of the same
-- URL (a personalized page) can never be found or shown. Matches are scored first, kept
-- by an index probe on page_visits_user_url, and only the top ones are decorated with
-- the latest visit, a snippet and the sessions they were read in (five, newest first).
WITH q AS MATERIALIZED (SELECT websearch_to_tsquery('english', %(q)s) AS query),
scored AS (
    SELECT url_hash, content_hash, sum(rank) AS rank
    FROM (
        SELECT u.url_hash, u.content_hash, ts_rank(u.search, q.query) * 2 AS rank
        FROM urls u, q
        WHERE u.search @@ websearch_to_tsquery('english', %(q)s)
        UNION ALL
        SELECT u.url_hash, u.content_hash, ts_rank(t.search, q.query) AS rank
        FROM page_texts t JOIN urls u ON u.content_hash = t.content_hash, q
        WHERE t.search @@ websearch_to_tsquery('english', %(q)s)
    ) found
    GROUP BY url_hash, content_hash
),
mine AS (
    SELECT DISTINCT ON (s.url_hash) s.url_hash, s.content_hash, s.rank
    FROM scored s
    WHERE EXISTS (
        SELECT 1 FROM page_visits v
        WHERE v.user_id = %(user_id)s AND v.url_hash = s.url_hash
          AND v.content_hash = s.content_hash
    )
    ORDER BY s.url_hash, s.rank DESC
),
top AS (
    SELECT * FROM mine ORDER BY rank DESC, url_hash LIMIT %(limit)s
)
SELECT m.url_hash, v.url, coalesce(nullif(v.title, ''), u.title, '') AS title, v.domain,
       coalesce(u.summary, ''), coalesce(u.topic, ''), coalesce(u.tags, '{}'),
       ts_headline('english', coalesce(u.summary, '') || ' … ' || left(coalesce(t.text, ''), 4000),
                   q.query,
                   'StartSel=' || chr(1) || ', StopSel=' || chr(2)
                   || ', MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "')
           AS snippet,
       coalesce(r.session_ids, '{}'), coalesce(r.session_starts, '{}')
FROM top m
CROSS JOIN q
JOIN LATERAL (
    SELECT pv.url, pv.title, pv.domain FROM page_visits pv
    WHERE pv.user_id = %(user_id)s AND pv.url_hash = m.url_hash
      AND pv.content_hash = m.content_hash
    ORDER BY pv.start_at DESC LIMIT 1
) v ON true
LEFT JOIN urls u ON u.url_hash = m.url_hash AND u.content_hash = m.content_hash
LEFT JOIN page_texts t ON t.content_hash = m.content_hash AND m.content_hash <> ''
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
