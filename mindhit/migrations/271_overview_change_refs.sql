-- Change rows by reference (issue 14, release 1 of 2): the visits fold's change rows
-- (one per new visit in overview_changes) cost its transaction ~0.12-0.16 s of backend
-- CPU per 100,000 visits. A reference is one row per batch naming the visits it inserted
-- as new; the drainer adds each named visit's version stored in page_visits *at drain
-- time* (+1) and deletes the reference, in one transaction (projector/overview_refs.py).
-- A separate table, so overview_changes and what a previous build writes and reads there
-- are unchanged: that build neither writes nor sees references. Release 1 (this one)
-- reads both kinds everywhere (drains, erasures, swap, mindhit lag, ops) and writes
-- per-visit rows only; release 2 lets the fold write references, once no replica runs a
-- build older than release 1 (whose drainer would leave them pending, and whose upsert
-- would rewrite a visit a reference still names: see overview_refs.py).
-- visit_ids: the batch's new visits (uuid[], TOASTed: ~16 bytes a visit); visits: how
-- many (the lag and the drain's bound read it without the array); seq: drawn from
-- overview_changes' identity, one write order for both kinds (a drain needs none across
-- kinds: an upsert resolves the references naming what it rewrites first); changed_at
-- dates the lag as in overview_changes. No index (a few rows, each a whole batch).
CREATE TABLE overview_change_refs (
    seq         bigint NOT NULL,
    visit_ids   uuid[] NOT NULL,
    visits      integer NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
DO $$
BEGIN
    EXECUTE format('ALTER TABLE overview_change_refs ALTER COLUMN seq SET DEFAULT nextval(%L::regclass)',
                   pg_get_serial_sequence('overview_changes', 'seq'));
END $$;
