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
-- A new row's title is not parsed here (`search` NULL, filled by housekeeping:
-- projector/title_vectors.py); the users with rows still unparsed are marked (DO UPDATE:
-- the row lock orders this batch with the fill pass's delete of the mark).
WITH titles AS (
    INSERT INTO {page_titles} AS o (user_id, url_hash, content_hash, title, visits)
    SELECT user_id, url_hash, content_hash, title, sum(visits) FROM tmp_overview
    GROUP BY 1, 2, 3, 4
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (user_id, url_hash, content_hash, title) DO UPDATE
    SET visits = o.visits + EXCLUDED.visits
    RETURNING o.user_id, o.search IS NULL AS unparsed
)
INSERT INTO {page_titles_unparsed} AS o (user_id)
SELECT DISTINCT user_id FROM titles WHERE unparsed
ON CONFLICT (user_id) DO UPDATE SET user_id = EXCLUDED.user_id;

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
