-- The overview's rollups (overview_days, overview_domains, overview_domains_monthly,
-- overview_pages_monthly, page_titles) leave the visits fold's transaction (issue 14):
-- the fold appends what each batch changed in page_visits here (each visit version it
-- wrote +1, each stored version it replaced -1: the change set the rollups used to be
-- updated with in the same transaction), and the overview drainer
-- (projector/overview_drainer.py) folds the pending rows into the rollups in large
-- batches, deleting them in the same transaction. So rollups + pending changes always
-- equal the aggregate of page_visits, and once drained the rollups alone do.
-- Logged (an unlogged table is emptied by crash recovery: changes lost, rollups short).
-- No index: the drainer takes every row its snapshot sees (ctid, bounded), no reader
-- looks rows up, and an index would cost the fold a b-tree insert per visit.
-- changed_at (the fold's transaction time) dates the oldest pending change: the lag
-- `mindhit lag` and mindhit_overview_pending_* report.
CREATE TABLE overview_changes (
    user_id       uuid NOT NULL,
    day           date NOT NULL,
    domain        text NOT NULL,
    url_hash      text NOT NULL,
    content_hash  text NOT NULL,
    title         text NOT NULL,
    dwell_ms      bigint NOT NULL,
    visits        integer NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now()
);
