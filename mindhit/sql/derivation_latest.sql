-- The re-derived history in force, if any (for the lag report).
SELECT generation, created_at, settings, cutover
FROM derivations
ORDER BY generation DESC
LIMIT 1
