-- The titles a user saw on each page version: one row per (user, URL, content version,
-- title) with the number of the user's visits that showed it (title '' included, so
-- every version the user visited has a row). A rollup of page_visits kept by the
-- projector like the overview's (projector.overview: what a batch changed is added,
-- erasures take their share out or rebuild the user), so it is the aggregate of
-- page_visits at every commit, rebuilt by replay and erased with the user's data.
-- The search reads it instead of the user's visits (a 100,000-visit user: 5,000 rows
-- instead of 100,000, each title parsed once when first seen instead of per search).
-- `search` is the title's vector as the search ranks it (weight A), computed when the
-- row is first written (projector/sql/overview_visits.sql): not a generated column, which
-- PostgreSQL computes again for every visit counted into an existing row (a fold of
-- visits to pages already seen cost 4x as much in this statement).
CREATE TABLE page_titles (
    user_id       uuid NOT NULL,
    url_hash      text NOT NULL,
    content_hash  text NOT NULL,
    title         text NOT NULL,
    visits        integer NOT NULL,
    search        tsvector NOT NULL,
    PRIMARY KEY (user_id, url_hash, content_hash, title)
);

INSERT INTO page_titles (user_id, url_hash, content_hash, title, visits, search)
SELECT user_id, url_hash, content_hash, title, count(*),
       setweight(to_tsvector('english'::regconfig, title), 'A')
FROM page_visits GROUP BY user_id, url_hash, content_hash, title;
