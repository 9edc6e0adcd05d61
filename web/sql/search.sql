-- Full-text search over what the user read: the titles of their own visits, topics and
-- summaries (urls.search: of the page's URL and text only, never a title) and page text
-- (page_texts.search). A title is only ever the user's own: another user's title of the
-- same page is neither shown nor matched. It starts from the user's own visits: `pairs` walks
-- the distinct (url, content version) pairs this user visited with one probe of
-- page_visits_user_url_content_start per pair (a skip scan: as many probes as pages, not as
-- many rows as visits), and only those pairs are looked up, matched and ranked (LATERAL
-- with LIMIT: one primary-key probe per pair, so no other user's row is ever read or
-- scored, however many users share the tables). The top ones are then decorated with
-- the latest visit, a snippet and the sessions they were read in (five, newest first).
-- Visits of sessions the user deleted (`hidden`, even within the undo window) count for
-- nothing: a page read only there is not found, and they give no title, visit or session.
WITH RECURSIVE q AS MATERIALIZED (SELECT websearch_to_tsquery('english', %(q)s) AS query),
hidden AS MATERIALIZED (
    SELECT d.session_id FROM session_deletions d
    WHERE d.user_id = %(user_id)s AND d.state <> 'cancelled'
),
hidden_list AS MATERIALIZED (
    SELECT coalesce(array_agg(session_id), ARRAY[]::uuid[]) AS hidden_ids FROM hidden
),
pairs AS (
    (SELECT v.url_hash, v.content_hash FROM page_visits v
     WHERE v.user_id = %(user_id)s AND v.session_id NOT IN (SELECT session_id FROM hidden)
     ORDER BY v.url_hash, v.content_hash LIMIT 1)
    UNION ALL
    SELECT nxt.url_hash, nxt.content_hash
    FROM pairs p
    CROSS JOIN LATERAL (
        SELECT v.url_hash, v.content_hash FROM page_visits v
        WHERE v.user_id = %(user_id)s
          AND (v.url_hash, v.content_hash) > (p.url_hash, p.content_hash)
          AND v.session_id NOT IN (SELECT session_id FROM hidden)
        ORDER BY v.url_hash, v.content_hash LIMIT 1
    ) nxt
),
mine AS MATERIALIZED (SELECT url_hash, content_hash FROM pairs),
scored AS MATERIALIZED (
    SELECT m.url_hash, m.content_hash, hit.rank
    FROM mine m
    CROSS JOIN q
    CROSS JOIN LATERAL (
        -- one primary-key probe per pair (LIMIT keeps the planner from turning this
        -- into a scan of every user's urls); rank only what matches
        SELECT u.search FROM urls u
        WHERE u.url_hash = m.url_hash AND u.content_hash = m.content_hash
        LIMIT 1
    ) u
    LEFT JOIN LATERAL (
        SELECT ts_rank(t.search, q.query) AS rank FROM page_texts t
        WHERE t.content_hash = m.content_hash AND m.content_hash <> ''
          AND t.search @@ q.query
        LIMIT 1
    ) t ON true
    LEFT JOIN LATERAL (
        -- the titles this user saw on this page version (their own visits only), each
        -- distinct title parsed once (a page's visits mostly repeat one title)
        SELECT max(ts_rank(setweight(to_tsvector('english', d.title), 'A'), q.query)) AS rank
        FROM (
            SELECT DISTINCT v.title FROM page_visits v
            WHERE v.user_id = %(user_id)s AND v.url_hash = m.url_hash
              AND v.content_hash = m.content_hash AND v.title <> ''
              AND v.session_id NOT IN (SELECT session_id FROM hidden)
            OFFSET 0  -- keeps the match below from being pushed back into the visits' scan
        ) d
        WHERE to_tsvector('english', d.title) @@ q.query
    ) ti ON true
    CROSS JOIN LATERAL (
        SELECT CASE WHEN u.search @@ q.query THEN ts_rank(u.search, q.query) * 2 ELSE 0 END
               + coalesce(ti.rank, 0) * 2 + coalesce(t.rank, 0) AS rank
    ) hit
    WHERE u.search @@ q.query OR t.rank IS NOT NULL OR ti.rank IS NOT NULL
),
best AS (
    SELECT DISTINCT ON (s.url_hash) s.url_hash, s.content_hash, s.rank
    FROM scored s
    ORDER BY s.url_hash, s.rank DESC
),
top AS (
    SELECT * FROM best ORDER BY rank DESC, url_hash LIMIT %(limit)s
)
SELECT m.url_hash, v.url, v.title, v.domain,
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
    -- the latest visit; its title, else the latest title this user saw on the page
    SELECT pv.url, pv.domain,
           coalesce(nullif(pv.title, ''),
                    latest_title(%(user_id)s::uuid, m.url_hash, (SELECT hidden_ids FROM hidden_list)),
                    '') AS title
    FROM page_visits pv
    WHERE pv.user_id = %(user_id)s AND pv.url_hash = m.url_hash
      AND pv.content_hash = m.content_hash
      AND pv.session_id NOT IN (SELECT session_id FROM hidden)
    ORDER BY pv.start_at DESC LIMIT 1
) v ON true
LEFT JOIN urls u ON u.url_hash = m.url_hash AND u.content_hash = m.content_hash
LEFT JOIN page_texts t ON t.content_hash = m.content_hash AND m.content_hash <> ''
LEFT JOIN LATERAL (
    SELECT array_agg(x.session_id::text ORDER BY x.started_at DESC) AS session_ids,
           array_agg(x.started_at ORDER BY x.started_at DESC) AS session_starts
    FROM (
        SELECT DISTINCT ON (s.started_at, s.session_id) s.session_id, s.started_at
        FROM page_visits pv
        JOIN sessions s ON s.session_id = pv.session_id AND s.user_id = %(user_id)s
        WHERE pv.user_id = %(user_id)s AND pv.url_hash = m.url_hash
          AND pv.session_id NOT IN (SELECT session_id FROM hidden)
        ORDER BY s.started_at DESC, s.session_id
        LIMIT 5
    ) x
) r ON true
ORDER BY m.rank DESC, m.url_hash
