-- Who still reads a page version: page_titles (one row per user, version and title, the
-- aggregate of page_visits at every commit) looked up by the version alone. An erasure
-- (of a user, or of one session) asks it for each URL version the erased user discovered:
-- a version another user still reads keeps its shared urls row and page text, handed over
-- to one of them (projector/shared_pages.py), instead of vanishing from their timeline
-- and search. One row per (user, version, title), not per visit, so the hot visit inserts
-- pay nothing for it.
CREATE INDEX IF NOT EXISTS page_titles_version ON page_titles (url_hash, content_hash);
