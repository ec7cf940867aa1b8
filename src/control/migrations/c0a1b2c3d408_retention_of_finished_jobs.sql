-- revision: c0a1b2c3d408
-- down_revision: c0a1b2c3d407
-- message: index what retention deletes: finished jobs and rollouts by their end, active jobs by rollout
-- transactional: false

-- upgrade
-- The reconciler deletes finished jobs and rollouts past FLEETWAY_RETENTION_DAYS in every
-- process, every pass (retention-store.ts): these indexes let each pass find its batch, oldest
-- first, without scanning the tables. Built CONCURRENTLY: the jobs table this is for is the large
-- one, and a plain CREATE INDEX would hold up every job's writes while it is built. IF NOT EXISTS
-- keeps the revision re-runnable (a failed attempt's INVALID index is dropped before the next).
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_finished_at_idx ON jobs (finished_at)
    WHERE state IN ('succeeded', 'failed', 'cancelled');
CREATE INDEX CONCURRENTLY IF NOT EXISTS rollouts_finished_at_idx ON rollouts (finished_at)
    WHERE state IN ('succeeded', 'failed', 'cancelled');
-- A finished rollout is deleted only once none of its jobs is active (a cancelled rollout's
-- running job may still be finishing): a handful of rows, found without reading its finished jobs.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_active_rollout_idx ON jobs (rollout_id)
    WHERE state IN ('queued', 'running');

-- downgrade
DROP INDEX CONCURRENTLY IF EXISTS jobs_active_rollout_idx;
DROP INDEX CONCURRENTLY IF EXISTS rollouts_finished_at_idx;
DROP INDEX CONCURRENTLY IF EXISTS jobs_finished_at_idx;
