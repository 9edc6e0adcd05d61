-- Upsert checkpoints (inside the transaction that wrote the rows they cover).
INSERT INTO projection_checkpoints (projection, topic, partition, next_offset, updated_at)
SELECT p, t, n, o, now()
FROM unnest(%s::text[], %s::text[], %s::int[], %s::bigint[]) AS x(p, t, n, o)
ON CONFLICT (projection, topic, partition) DO UPDATE SET
    next_offset = EXCLUDED.next_offset, updated_at = EXCLUDED.updated_at
