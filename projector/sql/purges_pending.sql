-- Per stream, the offset pending erasure purges want it trimmed below.
SELECT stream, max(up_to_offset)
FROM erasure_purges
WHERE done_at IS NULL
GROUP BY stream
