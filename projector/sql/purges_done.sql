-- Mark the purges of one stream reached by a trim as done.
UPDATE erasure_purges SET done_at = now()
WHERE stream = %s AND up_to_offset <= %s AND done_at IS NULL
