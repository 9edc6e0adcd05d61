-- Titles are per user (issue 12): a page's title is whatever the user's own browser
-- showed, so the shared urls row (one per URL version, for every user who read it)
-- keeps none. Before, it kept the first visitor's title, and another user who sent the
-- same URL with an empty title was shown it (or found the page by its words).
-- page_visits.title is the only title a reader shows; urls.search now covers the
-- AI topic and summary only (computed from the URL and the verified text).
UPDATE urls SET title = '' WHERE title <> '';

ALTER TABLE urls DROP COLUMN search;
ALTER TABLE urls ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, topic), 'B')
    || setweight(to_tsvector('english'::regconfig, summary), 'B')
) STORED;
CREATE INDEX urls_search ON urls USING gin (search);
