-- What changes that only add (no negative one) bring to the overview's rollups
-- (projector.overview): the source is either the visits just inserted into page_visits
-- (tmp_visits, replay's shadow fold) or a drained batch of overview_changes (tmp_overview,
-- the live drainer), as (user_id, day, domain, url_hash, content_hash, title, dwell_ms,
-- visits). Every change adds, so no rollup row can drop to zero visits (nothing to
-- delete). The rows are
-- read once (v) and summed per user, day and domain once (d); the daily and monthly
-- domain rollups and the days are sums of d, the monthly pages and the titles sums of v.
-- The two big rollups take their rows in primary-key order: the index work of 100,000
-- new rows (ON CONFLICT's probe, then the insert) cost ~0.2 s of CPU less sorted than in
-- hash order, sort included (page_titles 0.62-0.68 s vs 0.69-0.75 s,
-- overview_pages_monthly 0.80-0.81 s vs 0.93-0.97 s, into tables of 300,000 rows).
-- A title the user's rows lack is a plain insert, a stored one ON CONFLICT as before:
-- the look-up that decides whether to parse a title already tells which is which, and
-- 100,000 new titles cost the statement ~0.13-0.15 s of CPU less without the speculative
-- insertion (bench/projector.py, 1.49-1.53 s vs 1.63-1.66 s, interleaved, load 5-7).
WITH v AS MATERIALIZED (
    SELECT user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits
    FROM ({source}) s
), c AS MATERIALIZED (
    -- the batch's titles per user and page version, and whether the user's row of each
    -- is stored already
    SELECT g.user_id, g.url_hash, g.content_hash, g.title, g.visits,
           p.user_id IS NOT NULL AS stored
    FROM (SELECT user_id, url_hash, content_hash, title, sum(visits) AS visits FROM v
          GROUP BY 1, 2, 3, 4) g
    LEFT JOIN {page_titles} p ON p.user_id = g.user_id AND p.url_hash = g.url_hash
        AND p.content_hash = g.content_hash AND p.title = g.title
), titles_new AS (
    -- a title the user's rows lack: a plain insert with its vector (no ON CONFLICT: a
    -- user's rows have one writer at a time, see overview_visits.sql, so a row missing
    -- from this statement's snapshot is still missing; should one appear all the same,
    -- the insert fails and projector.overview folds the batch by the ON CONFLICT path)
    INSERT INTO {page_titles} (user_id, url_hash, content_hash, title, visits, search)
    SELECT user_id, url_hash, content_hash, title, visits,
           setweight(to_tsvector('english'::regconfig, title), 'A')
    FROM c WHERE NOT stored
    ORDER BY 1, 2, 3, 4
), titles AS (
    -- a stored title only counts the new visits (the placeholder '' is never written)
    INSERT INTO {page_titles} AS o (user_id, url_hash, content_hash, title, visits, search)
    SELECT user_id, url_hash, content_hash, title, visits, ''::tsvector
    FROM c WHERE stored
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (user_id, url_hash, content_hash, title) DO UPDATE
    SET visits = o.visits + EXCLUDED.visits
), d AS MATERIALIZED (
    SELECT user_id, day, domain, sum(dwell_ms) AS dwell_ms, sum(visits) AS visits
    FROM v GROUP BY user_id, day, domain
), days AS (
    INSERT INTO {overview_days} AS o (user_id, day, dwell_ms, visits)
    SELECT user_id, day, sum(dwell_ms), sum(visits) FROM d GROUP BY user_id, day
    ON CONFLICT (user_id, day) DO UPDATE
    SET dwell_ms = o.dwell_ms + EXCLUDED.dwell_ms, visits = o.visits + EXCLUDED.visits
), domains AS (
    INSERT INTO {overview_domains} AS o (user_id, day, domain, dwell_ms, visits)
    SELECT user_id, day, domain, dwell_ms, visits FROM d
    ON CONFLICT (user_id, day, domain) DO UPDATE
    SET dwell_ms = o.dwell_ms + EXCLUDED.dwell_ms, visits = o.visits + EXCLUDED.visits
), domains_monthly AS (
    INSERT INTO {overview_domains_monthly} AS o (user_id, month, domain, dwell_ms, visits)
    SELECT user_id, date_trunc('month', day)::date, domain, sum(dwell_ms), sum(visits)
    FROM d GROUP BY 1, 2, 3
    ON CONFLICT (user_id, month, domain) DO UPDATE
    SET dwell_ms = o.dwell_ms + EXCLUDED.dwell_ms, visits = o.visits + EXCLUDED.visits
)
INSERT INTO {overview_pages_monthly} AS o
    (user_id, month, url_hash, content_hash, dwell_ms, visits)
SELECT user_id, date_trunc('month', day)::date, url_hash, content_hash, sum(dwell_ms),
       sum(visits)
FROM v GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
ON CONFLICT (user_id, month, url_hash, content_hash) DO UPDATE
SET dwell_ms = o.dwell_ms + EXCLUDED.dwell_ms, visits = o.visits + EXCLUDED.visits;
