-- End the open transactions of the replicas that last claimed these partitions, when a
-- new claim has waited for them: their leases expired (a paused or cut-off replica whose
-- fold transaction still share-locks the fence rows and would block the claim until it
-- resumes). A replica names its connections after its member id (application_name).
-- The backends are chosen first (materialized), then ended: never anyone else.
-- Returns the ended backends' pids.
WITH stale AS MATERIALIZED (
    SELECT a.pid
    FROM pg_stat_activity AS a
    WHERE a.datname = current_database()
      AND a.pid <> pg_backend_pid()
      AND a.xact_start IS NOT NULL
      AND a.application_name IN (
        SELECT f.holder FROM partition_fences AS f
        WHERE f.partition = ANY(%(partitions)s::int[]) AND f.holder <> %(holder)s
      )
)
SELECT pid FROM stale WHERE pg_terminate_backend(pid)
