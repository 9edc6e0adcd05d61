-- Several presented tokens at once (by their hashes): for each one known, its hash, its
-- user, whether revoked, the user's block list and the cut of the user's latest erasure
-- (Unix ms; NULL if never erased). Unknown hashes give no row.
SELECT t.token_hash, t.user_id::text, t.token_id::text, t.revoked_at IS NOT NULL,
       coalesce(s.blocked_domains, '{}'),
       (extract(epoch FROM e.erased_at) * 1000)::bigint
FROM device_tokens t LEFT JOIN user_settings s USING (user_id)
     LEFT JOIN erased_users e USING (user_id)
WHERE t.token_hash = ANY(%s)
