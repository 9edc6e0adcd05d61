-- The user a sign-in cookie belongs to, while the session has not expired.
SELECT u.user_id::text, u.email, u.is_admin
FROM web_sessions s JOIN users u USING (user_id)
WHERE s.session_hash = %s AND s.expires_at > %s
