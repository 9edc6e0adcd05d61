-- The overview's lag (the drainer after every drain, in every projector replica;
-- mindhit lag; the ops page), read from at most the first 50,001 pending changes in
-- table order instead of all of them (count and min(changed_at) of every row: ~46 ms at
-- 400,000, every 0.5 s per replica). Up to 50,000 pending: exact. Above: an estimate,
-- the span of the numbers (seq, migration 270) from the lowest one read up to the
-- sequence's last (the lowest pending may lie further in the table; numbers of
-- rolled-back folds count), never below 50,001; the age is the oldest read's. Run with
-- synchronize_seqscans off (the callers: SET LOCAL), else the scan may start where a
-- concurrent one is, mid-table. No index: it would cost the fold a b-tree insert per
-- change (+40 % on the change rows' INSERT, measured).
-- Changes by reference (overview_change_refs, migration 271: a row per batch, a few
-- pending) count the visits they name, all read; the age is the oldest of either kind.
SELECT c.changes + r.changes, extract(epoch FROM now() - least(c.oldest, r.oldest, now()))
FROM (SELECT CASE WHEN count(*) <= 50000 THEN count(*)
                  ELSE greatest(count(*), coalesce(pg_sequence_last_value(
                      pg_get_serial_sequence('overview_changes', 'seq')::regclass)
                      - min(seq) + 1, 0))
             END AS changes,
             min(changed_at) AS oldest
      FROM (SELECT seq, changed_at FROM overview_changes LIMIT 50001) first_read) c,
     (SELECT coalesce(sum(visits), 0) AS changes, min(changed_at) AS oldest
      FROM overview_change_refs) r
