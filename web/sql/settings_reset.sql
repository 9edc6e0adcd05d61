-- Reset a user's settings to the defaults (after erasing their data).
UPDATE user_settings
SET blocked_domains = '{}', idle_threshold_s = 60, email_reports = false, updated_at = %s
WHERE user_id = %s
