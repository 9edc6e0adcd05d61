-- A new account (the caller adds its settings row in the same transaction); an address the
-- operator vouches for is confirmed at once.
INSERT INTO users (user_id, email, password_hash, is_admin, email_confirmed_at)
VALUES (%s, %s, %s, %s, CASE WHEN %s THEN now() END)
