-- revision: c0a1b2c3d413
-- down_revision: c0a1b2c3d411
-- message: a job's rollout is a foreign key: deleting a rollout leaves its jobs without one

-- upgrade
-- Retention deletes a finished rollout before its jobs, and keeps some of them (each tenant's
-- latest job, a recent one): they named a rollout that answered 404. The key sets their
-- rollout_id to NULL as the rollout is deleted, in the same statement, whatever deletes it.
-- Nothing may delete a rollout between clearing the jobs that name one already deleted and
-- adding the key, whose validation would then fail start-up: both tables are locked first, jobs
-- before rollouts, as a coordinator pass writes them (a job's insert, then its rollout's row).
LOCK TABLE jobs, rollouts IN SHARE ROW EXCLUSIVE MODE;
UPDATE jobs j SET rollout_id = NULL
 WHERE j.rollout_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM rollouts r WHERE r.id = j.rollout_id);
-- The key's ON DELETE finds a rollout's jobs through this index instead of reading every job;
-- jobs outside any rollout (manual ones) are left out of it.
CREATE INDEX jobs_rollout_idx ON jobs (rollout_id) WHERE rollout_id IS NOT NULL;
ALTER TABLE jobs ADD CONSTRAINT jobs_rollout_fkey FOREIGN KEY (rollout_id)
    REFERENCES rollouts (id) ON DELETE SET NULL;

-- downgrade
ALTER TABLE jobs DROP CONSTRAINT jobs_rollout_fkey;
DROP INDEX jobs_rollout_idx;
