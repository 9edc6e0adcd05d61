-- The account an email signs in to (case-insensitive), with its password hash.
SELECT user_id::text, email, is_admin, password_hash
FROM users
WHERE lower(email) = lower(%s)
