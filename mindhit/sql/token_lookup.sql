-- A presented token (by its hash): its user, whether revoked, and the user's block list.
SELECT t.user_id::text, t.token_id::text, t.revoked_at IS NOT NULL,
       coalesce(s.blocked_domains, '{}')
FROM device_tokens t LEFT JOIN user_settings s USING (user_id)
WHERE t.token_hash = %s
