-- revision: c0a1b2c3d408
-- down_revision: c0a1b2c3d407
-- message: index what retention deletes: finished jobs and rollouts by their end, active jobs by rollout

-- upgrade
-- The reconciler prunes finished jobs and rollouts past FLEETWAY_RETENTION_DAYS (prune-expired.ts,
-- retention-store.ts): these indexes let a round find its batch, oldest first, without scanning
-- the tables. Plain CREATE INDEX, not CONCURRENTLY: a concurrent build waits for every transaction
-- in the database that holds an older snapshot, a pg_dump of the control database included, and
-- would fail start-up on its lock_timeout during a backup; a plain one only holds up writes to
-- the table while it builds (about a second per million jobs).
CREATE INDEX IF NOT EXISTS jobs_finished_at_idx ON jobs (finished_at)
    WHERE state IN ('succeeded', 'failed', 'cancelled');
CREATE INDEX IF NOT EXISTS rollouts_finished_at_idx ON rollouts (finished_at)
    WHERE state IN ('succeeded', 'failed', 'cancelled');
-- A finished rollout is deleted only once none of its jobs is active (a cancelled rollout's
-- running job may still be finishing): a handful of rows, found without reading its finished jobs.
CREATE INDEX IF NOT EXISTS jobs_active_rollout_idx ON jobs (rollout_id)
    WHERE state IN ('queued', 'running');

-- downgrade
DROP INDEX IF EXISTS jobs_active_rollout_idx;
DROP INDEX IF EXISTS rollouts_finished_at_idx;
DROP INDEX IF EXISTS jobs_finished_at_idx;
