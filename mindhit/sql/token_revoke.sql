-- Revoke a user's active token(s) named by id or device name.
UPDATE device_tokens SET revoked_at = now()
WHERE user_id = %s AND revoked_at IS NULL
  AND (token_id::text = %s OR device = %s)
