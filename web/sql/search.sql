-- Full-text search over what the user read: titles, topics and summaries (urls.search)
-- and page text (page_texts.search), both GIN-indexed. Matching URLs are found first,
-- then kept only when this user visited them (page_visits_user_url index). Ranked; each
-- hit lists up to five sessions it was read in, newest first.
WITH q AS (SELECT websearch_to_tsquery('english', %(q)s) AS query),
matching AS (
    SELECT u.url_hash FROM urls u, q WHERE u.search @@ q.query
    UNION
    SELECT u.url_hash FROM page_texts t JOIN urls u ON u.content_hash = t.content_hash, q
    WHERE t.search @@ q.query
),
hits AS (
    SELECT m.url_hash, v.content_hash, v.url, v.title, v.domain
    FROM matching m
    JOIN LATERAL (
        SELECT content_hash, url, title, domain FROM page_visits pv
        WHERE pv.user_id = %(user_id)s AND pv.url_hash = m.url_hash
        ORDER BY pv.start_at DESC LIMIT 1
    ) v ON true
),
ranked AS (
    SELECT h.url_hash, h.url, coalesce(nullif(h.title, ''), u.title, '') AS title, h.domain,
           coalesce(u.summary, '') AS summary, coalesce(u.topic, '') AS topic,
           coalesce(u.tags, '{}') AS tags, coalesce(t.text, '') AS text,
           coalesce(ts_rank(u.search, q.query), 0) * 2
               + coalesce(ts_rank(t.search, q.query), 0) AS rank
    FROM hits h
    CROSS JOIN q
    LEFT JOIN LATERAL (
        SELECT title, summary, topic, tags, search, content_hash FROM urls
        WHERE urls.url_hash = h.url_hash
        ORDER BY (urls.content_hash = h.content_hash) DESC, urls.enriched_at DESC NULLS LAST
        LIMIT 1
    ) u ON true
    LEFT JOIN page_texts t
        ON t.content_hash = coalesce(nullif(h.content_hash, ''), u.content_hash)
    ORDER BY rank DESC, h.url_hash
    LIMIT %(limit)s
)
SELECT r.url_hash, r.url, r.title, r.domain, r.summary, r.topic, r.tags,
       ts_headline('english', r.summary || ' … ' || left(r.text, 20000), q.query,
                   'StartSel=' || chr(1) || ', StopSel=' || chr(2)
                   || ', MaxWords=30, MinWords=12, MaxFragments=2, FragmentDelimiter=" … "')
           AS snippet,
       (SELECT coalesce(array_agg(x.session_id::text ORDER BY x.started_at DESC), '{}')
        FROM (
            SELECT DISTINCT v.session_id, s.started_at
            FROM page_visits v JOIN sessions s ON s.session_id = v.session_id
            WHERE v.user_id = %(user_id)s AND v.url_hash = r.url_hash
            ORDER BY s.started_at DESC
            LIMIT 5
        ) x) AS session_ids,
       (SELECT coalesce(array_agg(x.started_at ORDER BY x.started_at DESC), '{}')
        FROM (
            SELECT DISTINCT v.session_id, s.started_at
            FROM page_visits v JOIN sessions s ON s.session_id = v.session_id
            WHERE v.user_id = %(user_id)s AND v.url_hash = r.url_hash
            ORDER BY s.started_at DESC
            LIMIT 5
        ) x) AS session_starts
FROM ranked r CROSS JOIN q
ORDER BY r.rank DESC, r.url_hash
