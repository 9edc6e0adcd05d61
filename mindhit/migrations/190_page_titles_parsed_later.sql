-- A title's search vector is no longer parsed by the fold (issue 14): the projector writes
-- new page_titles rows with `search` NULL and marks their user in page_titles_unparsed
-- (one row per user, not per title), and housekeeping fills the vectors in later
-- (projector/title_vectors.py). The search computes a missing vector itself, the same
-- expression (web/sql/search.sql), so its results do not depend on when it was filled.
-- to_tsvector was ~0.3-0.5 s of the fold's backend per 100,000 new titles; a partial
-- index on the unparsed rows (instead of the marker table) cost ~0.2 s of those back.
ALTER TABLE page_titles ALTER COLUMN search DROP NOT NULL;

-- The users with page_titles rows whose `search` may still be NULL: a rollup of the
-- visits projection (replay rebuilds it with page_titles, erasure removes the user's).
CREATE TABLE page_titles_unparsed (
    user_id uuid PRIMARY KEY
);
