-- The address of a user who wants session reports (no row when reports are off).
SELECT u.email
FROM users AS u
JOIN user_settings AS s ON s.user_id = u.user_id
WHERE u.user_id = %(user_id)s AND s.email_reports
