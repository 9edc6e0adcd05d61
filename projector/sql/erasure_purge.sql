-- Record a Redis purge an erasure owes: trim the stream below up_to_offset once every
-- reader has moved past it (done by stream retention).
INSERT INTO erasure_purges (user_id, stream, up_to_offset)
VALUES (%s, %s, %s)
ON CONFLICT (user_id, stream) DO UPDATE SET
    up_to_offset = GREATEST(erasure_purges.up_to_offset, EXCLUDED.up_to_offset),
    done_at = NULL
