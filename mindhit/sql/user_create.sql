-- A new account (the caller adds its settings row in the same transaction).
INSERT INTO users (user_id, email, password_hash, is_admin)
VALUES (%s, %s, %s, %s)
