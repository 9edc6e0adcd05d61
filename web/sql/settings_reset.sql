-- Reset a user's settings after erasing their data, all but the block list: it is a rule
-- about what must never be recorded, not something recorded, and emptied it let an
-- extension paired afterwards record those domains. (The history retention and the map
-- view stay too.)
UPDATE user_settings
SET idle_threshold_s = 60, email_reports = false, updated_at = %s
WHERE user_id = %s
