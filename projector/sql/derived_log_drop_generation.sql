-- Delete the rows of one derivation that was never recorded (an aborted or dry-run rederive).
DELETE FROM derived_log
WHERE generation = %s
  AND generation NOT IN (SELECT generation FROM derivations)
