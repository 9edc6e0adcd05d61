-- A new sign-in session (only the cookie's hash is stored).
INSERT INTO web_sessions (session_hash, user_id, created_at, expires_at, user_agent)
VALUES (%s, %s, %s, %s, %s)
