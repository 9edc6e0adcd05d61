-- Search starts from the user's own visits (web/sql/search.sql): the distinct
-- (url, content version) pairs of one user come from an index-only scan of this index
-- instead of the user's whole visit rows.
CREATE INDEX page_visits_user_url_content ON page_visits (user_id, url_hash, content_hash);
