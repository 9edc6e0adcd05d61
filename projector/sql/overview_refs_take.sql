-- A drain takes the references it locked (projector.overview_refs.take_references):
-- deleted, and each named visit's version stored now added to this connection's
-- tmp_overview (+1; a visit erased meanwhile has no row and adds nothing, as it
-- should: nothing of it ever reached the rollups). One statement, so exactly the
-- references deleted are resolved.
WITH gone AS (
    DELETE FROM {overview_change_refs} WHERE seq = ANY(%(seqs)s) RETURNING visit_ids
)
INSERT INTO tmp_overview (user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits)
SELECT v.user_id, (v.start_at AT TIME ZONE 'UTC')::date, v.domain, v.url_hash,
       v.content_hash, v.title, v.dwell_ms, 1
FROM gone g CROSS JOIN LATERAL unnest(g.visit_ids) x(id)
JOIN {page_visits} v ON v.visit_id = x.id
