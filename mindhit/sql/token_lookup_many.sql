-- Several presented tokens at once (by their hashes): for each one known, its hash, its
-- user, whether revoked, and the user's block list (unknown hashes give no row).
SELECT t.token_hash, t.user_id::text, t.token_id::text, t.revoked_at IS NOT NULL,
       coalesce(s.blocked_domains, '{}')
FROM device_tokens t LEFT JOIN user_settings s USING (user_id)
WHERE t.token_hash = ANY(%s)
