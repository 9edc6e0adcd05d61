-- Before an upsert rewrites visits (projector.overview_refs.resolve_staged_references):
-- every pending reference naming a staged visit is turned into per-visit change rows,
-- +1 of each named visit's version stored now, and deleted, in the fold's transaction.
-- A reference adds the version stored when it is drained: left pending, it would add the
-- upsert's new version on top of the upsert's own -1 (stored) and +1 (new) rows. The
-- rows written here draw their seq before the upsert's -1 (a later statement), so a
-- bounded drain takes the +1 first (migration 270). The references are locked in seq
-- order (as the drainer locks them): one a drain is taking makes this statement wait
-- for the drain's commit and then skip it (deleted: the drain added the version stored
-- before this upsert); one locked here waits for this transaction in the drain.
WITH hit AS MATERIALIZED (
    SELECT r.seq, r.visit_ids FROM {overview_change_refs} r
    WHERE EXISTS (SELECT 1 FROM unnest(r.visit_ids) x(id)
                  WHERE x.id IN (SELECT visit_id FROM tmp_visits))
    ORDER BY r.seq
    FOR UPDATE OF r
), gone AS (
    DELETE FROM {overview_change_refs} r USING hit h WHERE r.seq = h.seq
)
INSERT INTO {overview_changes}
    (user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits)
SELECT v.user_id, (v.start_at AT TIME ZONE 'UTC')::date, v.domain, v.url_hash,
       v.content_hash, v.title, v.dwell_ms, 1
FROM hit h CROSS JOIN LATERAL unnest(h.visit_ids) x(id)
JOIN {page_visits} v ON v.visit_id = x.id
