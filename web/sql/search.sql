-- Full-text search over what the user read: the titles of their own visits, topics and
-- summaries (urls.search: of the page's URL and text only, never a title) and page text
-- (page_texts.search). A title is only ever the user's own: another user's title of the
-- same page is neither shown nor matched. It starts from the user's own titles:
-- page_titles (the projector's rollup of page_visits, migration 185) has one row per
-- (page, content version, title) the user visited, with the title's vector, so the
-- (url, content version) pairs they read and the titles that match come from one read of
-- their rows in it (a 100,000-visit user: ~5,000 rows, not their visits). Only those
-- pairs are looked up, matched and ranked (LATERAL with LIMIT: one primary-key probe per
-- pair, so no other user's row is ever read or scored, however many users share the
-- tables). The top ones are then decorated with the latest visit, a snippet and the
-- sessions they were read in (five, newest first): a page the user read 1,000 times or
-- more (a year of 1,000,000 visits: ~11,700 for a popular page, 75-100 ms to read them
-- all) is looked for in their newest sessions first, one probe of a session's visits
-- each; a page read less often, or not five times lately, from its visits.
-- Visits of sessions the user deleted (`hidden`, even within the undo window) count for
-- nothing: a page read only there is not found, and they give no title, visit or session.
-- The rollup counts them, so the versions read in a hidden session (`touched`: a few
-- hundred visits per hidden session, by page_visits_session) take their titles from the
-- visits outside the hidden sessions instead; every other version's rows are exactly
-- what its visits would give.
WITH q AS MATERIALIZED (SELECT websearch_to_tsquery('english', %(q)s) AS query),
hidden AS MATERIALIZED (
    SELECT d.session_id FROM session_deletions d
    WHERE d.user_id = %(user_id)s AND d.state <> 'cancelled'
),
recent AS MATERIALIZED (
    -- the user's newest 30 sessions (and any that never started) are those at or after
    -- `since`, ties included: a prefix of the order the search lists sessions in
    SELECT min(n.started_at) AS since FROM (
        SELECT s.started_at FROM sessions s WHERE s.user_id = %(user_id)s
        ORDER BY s.started_at DESC LIMIT 30
    ) n
),
hidden_list AS MATERIALIZED (
    SELECT coalesce(array_agg(session_id), ARRAY[]::uuid[]) AS hidden_ids FROM hidden
),
touched AS MATERIALIZED (
    SELECT DISTINCT v.url_hash, v.content_hash FROM page_visits v
    WHERE v.session_id IN (SELECT session_id FROM hidden) AND v.user_id = %(user_id)s
),
titles AS MATERIALIZED (
    SELECT p.url_hash, p.content_hash, p.title, p.search FROM page_titles p
    WHERE p.user_id = %(user_id)s
      AND NOT EXISTS (
          SELECT 1 FROM touched x
          WHERE x.url_hash = p.url_hash AND x.content_hash = p.content_hash
      )
    UNION ALL
    SELECT d.url_hash, d.content_hash, d.title,
           setweight(to_tsvector('english', d.title), 'A')
    FROM (
        SELECT DISTINCT v.url_hash, v.content_hash, v.title
        FROM touched x
        JOIN page_visits v ON v.user_id = %(user_id)s AND v.url_hash = x.url_hash
                          AND v.content_hash = x.content_hash
        WHERE v.session_id NOT IN (SELECT session_id FROM hidden)
    ) d
),
mine AS MATERIALIZED (SELECT DISTINCT url_hash, content_hash FROM titles),
title_hits AS MATERIALIZED (
    -- the titles this user saw on each page version that match, the best one's rank
    SELECT ti.url_hash, ti.content_hash, max(ts_rank(ti.search, q.query)) AS rank
    FROM titles ti CROSS JOIN q
    WHERE ti.title <> '' AND ti.search @@ q.query
    GROUP BY ti.url_hash, ti.content_hash
),
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
    LEFT JOIN title_hits ti ON ti.url_hash = m.url_hash AND ti.content_hash = m.content_hash
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
       coalesce(r.session_ids, w.session_ids, '{}'),
       coalesce(r.session_starts, w.session_starts, '{}')
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
CROSS JOIN LATERAL (
    -- how often the user read the page (page_titles, a primary-key prefix probe; hidden
    -- sessions' visits included): only a popular page's sessions are looked up by walk
    SELECT coalesce(sum(pt.visits), 0) AS visits FROM page_titles pt
    WHERE pt.user_id = %(user_id)s AND pt.url_hash = m.url_hash
) pop
LEFT JOIN LATERAL (
    -- the sessions a popular page was read in, five, newest first: the user's sessions
    -- in that order (sessions_user_started) among their newest (`recent`), each probed for
    -- a visit of the page (page_visits_session: the session's visits, up to the first of
    -- the page). `recent` is a prefix of that order, so five found there are the five;
    -- fewer, and `r` below reads them from the page's visits instead
    SELECT array_agg(x.session_id::text ORDER BY x.started_at DESC, x.session_id) AS session_ids,
           array_agg(x.started_at ORDER BY x.started_at DESC, x.session_id) AS session_starts,
           count(*) AS found
    FROM (
        SELECT s.session_id, s.started_at
        FROM sessions s
        CROSS JOIN LATERAL (
            -- OFFSET 0 keeps the page's condition out of this scan: with it the planner
            -- would also read every visit of the page (page_visits_user_url_content_start)
            -- to intersect with the session's
            SELECT 1 FROM (
                SELECT pv.url_hash FROM page_visits pv
                WHERE pv.session_id = s.session_id AND pv.user_id = %(user_id)s
                OFFSET 0
            ) pv
            WHERE pv.url_hash = m.url_hash
            LIMIT 1
        ) read
        WHERE s.user_id = %(user_id)s AND pop.visits >= 1000
          AND (s.started_at IS NULL OR s.started_at >= (SELECT since FROM recent))
          AND s.session_id NOT IN (SELECT session_id FROM hidden)
        ORDER BY s.started_at DESC, s.session_id
        LIMIT 5
    ) x
) w ON true
LEFT JOIN LATERAL (
    -- otherwise from every visit of the page
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
    WHERE w.found < 5
) r ON true
ORDER BY m.rank DESC, m.url_hash
