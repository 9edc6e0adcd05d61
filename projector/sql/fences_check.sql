-- Share-lock the fence rows of the given partitions until the transaction ends (a claim
-- waits for this commit) and return their tokens.
SELECT partition, token
FROM partition_fences
WHERE partition = ANY(%s::int[])
ORDER BY partition
FOR SHARE
