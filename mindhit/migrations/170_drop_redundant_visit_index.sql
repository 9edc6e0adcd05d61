-- page_visits_user_url (user_id, url_hash) is the leading part of
-- page_visits_user_url_content (user_id, url_hash, content_hash, migration 061): every
-- lookup it served, the longer index serves, while each visit the projector writes paid
-- one more index insertion for it.
DROP INDEX IF EXISTS page_visits_user_url;
