-- Record (or move forward) a user's erasure tombstone: their events up to erased_at are
-- skipped by every fold, archive write and replay from now on. A new seq tells the
-- projectors' next batches to read the row again (projector.pg.erased_after).
INSERT INTO erased_users (user_id, erased_at, reason)
VALUES (%(user)s, timestamptz 'epoch' + %(at)s * interval '1 ms', %(reason)s)
ON CONFLICT (user_id) DO UPDATE SET
    erased_at = GREATEST(erased_users.erased_at, EXCLUDED.erased_at),
    reason = EXCLUDED.reason,
    seq = nextval('erased_users_seq')
