-- The given partitions whose fence row no other transaction holds locked (the caller
-- rolls back at once: the locks taken here only probe). A claim that waited too long
-- ends only the holders of the others, the rows it actually waits for.
SELECT partition
FROM partition_fences
WHERE partition = ANY(%(partitions)s::int[])
ORDER BY partition
FOR NO KEY UPDATE SKIP LOCKED
