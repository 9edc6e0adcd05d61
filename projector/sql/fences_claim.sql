-- Bump the fencing token of each given partition for a new holder (lease just taken);
-- returns the new tokens. Rows are locked in partition order (no deadlock between claims).
INSERT INTO partition_fences AS f (partition, token, holder)
SELECT p, 1, %(holder)s FROM unnest(%(partitions)s::int[]) AS p ORDER BY p
ON CONFLICT (partition) DO UPDATE
SET token = f.token + 1, holder = EXCLUDED.holder, claimed_at = now()
RETURNING partition, token
