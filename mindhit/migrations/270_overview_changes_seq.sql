-- The overview drainer took the oldest pending changes by changed_at (now(): the
-- fold's transaction start on PostgreSQL's clock), so a -1 (a rewritten visit's stored
-- version taken out) could be drained before the +1 it cancels whenever that clock
-- stepped back between the two folds (NTP, a failover to a standby with another
-- clock): the day's rollup row dropped at zero visits with the new dwell, and the
-- late +1 brought the old dwell back for good. seq numbers every change as it is
-- written (an identity, CACHE 1: one counter for every session): the fold writing a
-- -1 read the +1's version committed, so that +1 drew its number before, whatever the
-- clock does; the drainer takes the lowest numbers first (projector/overview.py).
-- Rows pending now are numbered in the order the drainer took them until now.
-- Still no index (a b-tree insert per visit for the fold): the drain's ORDER BY seq
-- LIMIT is a top-N sort, as changed_at's was. changed_at stays: it dates the lag.
LOCK TABLE overview_changes IN ACCESS EXCLUSIVE MODE;
ALTER TABLE overview_changes ADD COLUMN seq bigint;
UPDATE overview_changes c SET seq = o.n
  FROM (SELECT ctid AS at, row_number() OVER (ORDER BY changed_at, ctid) AS n
        FROM overview_changes) o
  WHERE c.ctid = o.at;
ALTER TABLE overview_changes ALTER COLUMN seq SET NOT NULL;
ALTER TABLE overview_changes ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (CACHE 1);
SELECT setval(pg_get_serial_sequence('overview_changes', 'seq'), coalesce(max(seq), 0) + 1, false)
  FROM overview_changes;
