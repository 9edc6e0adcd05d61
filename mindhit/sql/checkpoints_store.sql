-- Upsert checkpoints (inside the transaction that wrote the rows they cover), each with
-- the log epoch it was read in (NULL keeps the stored one).
INSERT INTO projection_checkpoints (projection, topic, partition, next_offset, epoch, updated_at)
SELECT p, t, n, o, e, now()
FROM unnest(%s::text[], %s::text[], %s::int[], %s::bigint[], %s::text[]) AS x(p, t, n, o, e)
ON CONFLICT (projection, topic, partition) DO UPDATE SET
    next_offset = EXCLUDED.next_offset,
    epoch = coalesce(EXCLUDED.epoch, projection_checkpoints.epoch),
    updated_at = EXCLUDED.updated_at
