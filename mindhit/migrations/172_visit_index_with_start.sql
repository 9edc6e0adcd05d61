-- page_visits_user_url_content (user_id, url_hash, content_hash, migration 061) gains
-- start_at as a trailing column. The search's skip scan over a user's distinct
-- (url, content version) pairs reads the same leading columns as before; "the latest visit
-- of this page version" (the overview's and the search's latest title, the search's latest
-- visit) becomes a backward probe of the index instead of a read and sort of every visit
-- of the page (a popular page of a year of 1,000,000 visits: ~18,000 rows, ~50 ms each).
-- Replaces the old index rather than adding one: the projector still maintains one
-- index for these columns per folded visit (8 bytes wider).
CREATE INDEX page_visits_user_url_content_start
    ON page_visits (user_id, url_hash, content_hash, start_at);
DROP INDEX IF EXISTS page_visits_user_url_content;
