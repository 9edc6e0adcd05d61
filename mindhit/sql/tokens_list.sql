-- A user's device tokens, newest first (never the secrets).
SELECT token_id::text, device, created_at, revoked_at IS NOT NULL
FROM device_tokens
WHERE user_id = %s
ORDER BY created_at DESC
