-- Erasures in the order they committed (issue 14): every projector batch used to read all of
-- erased_users inside its transaction, a cost that grew with every erasure ever made. A batch
-- now reads only the rows past the last seq its projector saw. Safe because every writer of
-- this table holds the erasure lock exclusively and a batch reads under it shared: at the
-- read no erasure is in flight, so no smaller seq can commit after a larger one was seen. A
-- later erasure of the same user (a later cut) takes a new seq, so it is read again.
CREATE SEQUENCE IF NOT EXISTS erased_users_seq;
ALTER TABLE erased_users ADD COLUMN IF NOT EXISTS seq bigint;
UPDATE erased_users SET seq = nextval('erased_users_seq') WHERE seq IS NULL;
ALTER TABLE erased_users ALTER COLUMN seq SET DEFAULT nextval('erased_users_seq');
ALTER TABLE erased_users ALTER COLUMN seq SET NOT NULL;
CREATE INDEX IF NOT EXISTS erased_users_seq_idx ON erased_users (seq);
