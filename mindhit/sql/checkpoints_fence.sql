-- Lock the given checkpoint rows until the transaction ends and return what they hold
-- (a key with no row yet is absent: its writer expects 0).
SELECT projection, topic, partition, next_offset
FROM projection_checkpoints
WHERE (projection, topic, partition) IN (
    SELECT * FROM unnest(%s::text[], %s::text[], %s::int[])
)
FOR UPDATE
