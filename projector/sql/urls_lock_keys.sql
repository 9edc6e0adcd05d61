-- Lock the URL rows a batch is about to merge, by key, in key order, until the
-- transaction ends: URL rows are shared by users of every partition, so two projector
-- replicas may merge the same new key at once (two inserts: a unique violation) or the
-- same keys in another order (a deadlock). Taken only after every lock of the batch's
-- own partition, so waiting here holds nothing another waiter needs.
SELECT pg_advisory_xact_lock(%s, k)
FROM (SELECT DISTINCT hashtext(url_hash || ':' || content_hash) AS k FROM tmp_urls ORDER BY k) s
