-- Add what the batch changed in page_visits to the daily rollups. tmp_overview holds the
-- stored versions of the staged visits with negative sign (collected before the visit
-- upsert) and their versions after it, positive: so each rollup stays the aggregate of
-- page_visits whatever the upsert decided (a redelivered visit adds zero).
INSERT INTO {overview_days} AS o (user_id, day, dwell_ms, visits)
SELECT user_id, day, sum(dwell_ms), sum(visits) FROM tmp_overview GROUP BY user_id, day
ON CONFLICT (user_id, day) DO UPDATE
SET dwell_ms = o.dwell_ms + EXCLUDED.dwell_ms, visits = o.visits + EXCLUDED.visits;

INSERT INTO {overview_domains} AS o (user_id, day, domain, dwell_ms, visits)
SELECT user_id, day, domain, sum(dwell_ms), sum(visits) FROM tmp_overview
GROUP BY user_id, day, domain
ON CONFLICT (user_id, day, domain) DO UPDATE
SET dwell_ms = o.dwell_ms + EXCLUDED.dwell_ms, visits = o.visits + EXCLUDED.visits;

INSERT INTO {overview_domains_monthly} AS o (user_id, month, domain, dwell_ms, visits)
SELECT user_id, date_trunc('month', day)::date, domain, sum(dwell_ms), sum(visits)
FROM tmp_overview GROUP BY 1, 2, 3
ON CONFLICT (user_id, month, domain) DO UPDATE
SET dwell_ms = o.dwell_ms + EXCLUDED.dwell_ms, visits = o.visits + EXCLUDED.visits;

INSERT INTO {overview_pages_monthly} AS o
    (user_id, month, url_hash, content_hash, dwell_ms, visits)
SELECT user_id, date_trunc('month', day)::date, url_hash, content_hash, sum(dwell_ms),
       sum(visits)
FROM tmp_overview GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4  -- key order: less index work (overview_new_visits.sql)
ON CONFLICT (user_id, month, url_hash, content_hash) DO UPDATE
SET dwell_ms = o.dwell_ms + EXCLUDED.dwell_ms, visits = o.visits + EXCLUDED.visits;

-- The titles each user saw per page version (title '' included), which the search reads.
-- A title's vector is computed for a new row only: a row already stored keeps its own
-- (the placeholder '' is never written, ON CONFLICT only adds the visits). A user's rows
-- have one writer at a time (their visits partition's; erasures lock out batches), so
-- a row seen stored here is still stored at the insert.
INSERT INTO {page_titles} AS o (user_id, url_hash, content_hash, title, visits, search)
SELECT c.user_id, c.url_hash, c.content_hash, c.title, c.visits,
       CASE WHEN p.user_id IS NULL THEN setweight(to_tsvector('english'::regconfig, c.title), 'A')
            ELSE ''::tsvector END
FROM (SELECT user_id, url_hash, content_hash, title, sum(visits) AS visits FROM tmp_overview
      GROUP BY 1, 2, 3, 4) c
LEFT JOIN {page_titles} p ON p.user_id = c.user_id AND p.url_hash = c.url_hash
    AND p.content_hash = c.content_hash AND p.title = c.title
ORDER BY 1, 2, 3, 4
ON CONFLICT (user_id, url_hash, content_hash, title) DO UPDATE
SET visits = o.visits + EXCLUDED.visits;

-- A rollup row drops to zero visits only when the batch took some away: without a
-- negative change nothing is looked for (the rollups are not scanned every batch).
DELETE FROM {overview_days} o USING (SELECT DISTINCT user_id, day FROM tmp_overview) t
WHERE o.user_id = t.user_id AND o.day = t.day AND o.visits = 0
    AND EXISTS (SELECT 1 FROM tmp_overview WHERE visits < 0);
DELETE FROM {overview_domains} o USING (SELECT DISTINCT user_id, day FROM tmp_overview) t
WHERE o.user_id = t.user_id AND o.day = t.day AND o.visits = 0
    AND EXISTS (SELECT 1 FROM tmp_overview WHERE visits < 0);
DELETE FROM {overview_domains_monthly} o
USING (SELECT DISTINCT user_id, date_trunc('month', day)::date AS month FROM tmp_overview) t
WHERE o.user_id = t.user_id AND o.month = t.month AND o.visits = 0
    AND EXISTS (SELECT 1 FROM tmp_overview WHERE visits < 0);
DELETE FROM {overview_pages_monthly} o
USING (SELECT DISTINCT user_id, date_trunc('month', day)::date AS month FROM tmp_overview) t
WHERE o.user_id = t.user_id AND o.month = t.month AND o.visits = 0
    AND EXISTS (SELECT 1 FROM tmp_overview WHERE visits < 0);
DELETE FROM {page_titles} o
USING (SELECT DISTINCT user_id, url_hash, content_hash, title FROM tmp_overview
       WHERE visits < 0) t
WHERE o.user_id = t.user_id AND o.url_hash = t.url_hash AND o.content_hash = t.content_hash
    AND o.title = t.title AND o.visits = 0;
