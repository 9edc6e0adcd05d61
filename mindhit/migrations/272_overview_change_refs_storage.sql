-- A reference's visit_ids (migration 271) are random UUIDs: PostgreSQL's default
-- storage tried to compress each batch's array (~16 bytes a visit, hundreds of KB) and
-- stored it as it was. EXTERNAL stores it out of line uncompressed at once: the fold's
-- reference insert took ~8 ms instead of ~15-20 ms per 40,000 visits (issue 14), the
-- drainer detoasts it without decompressing. Rows stored before keep their storage.
ALTER TABLE overview_change_refs ALTER COLUMN visit_ids SET STORAGE EXTERNAL;
