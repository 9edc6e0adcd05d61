-- Migration 261's index on page_titles (url_hash, content_hash), for the erasure's
-- "who else reads this version", led with url_hash: the search's per-page popularity
-- probe (pt.user_id = me AND pt.url_hash = page) then took it instead of the primary
-- key, reading every user's rows of the page and keeping the user's by filter
-- (tests/security/test_search_scope.py). Led by content_hash it serves only lookups
-- that name the whole version, as the erasure's do.
DROP INDEX IF EXISTS page_titles_version;
CREATE INDEX IF NOT EXISTS page_titles_by_version ON page_titles (content_hash, url_hash);
