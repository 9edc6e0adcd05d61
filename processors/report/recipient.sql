-- The address of a user who wants session reports (no row when reports are off, or the
-- address was never confirmed: nobody showed they read mail sent to it).
SELECT u.email
FROM users AS u
JOIN user_settings AS s ON s.user_id = u.user_id
WHERE u.user_id = %(user_id)s AND s.email_reports AND u.email_confirmed_at IS NOT NULL
