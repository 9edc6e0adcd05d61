-- Delete the erased user's page texts that no remaining URL row references ({u}).
DELETE FROM {t} p
WHERE p.content_hash = ANY(%(hashes)s)
  AND NOT EXISTS (SELECT 1 FROM {u} u WHERE u.content_hash = p.content_hash)
