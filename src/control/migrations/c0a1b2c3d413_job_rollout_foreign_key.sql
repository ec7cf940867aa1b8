-- revision: c0a1b2c3d413
-- down_revision: c0a1b2c3d411
-- message: a job's rollout is a foreign key: deleting a rollout leaves its jobs without one

-- upgrade
-- Retention deletes a finished rollout before its jobs, and keeps some of them (each tenant's
-- latest job, a recent one): they named a rollout that answered 404. The key sets their
-- rollout_id to NULL as the rollout is deleted, in the same statement, whatever deletes it.
--
-- rollouts is locked first, in the order every writer of both tables takes them (a coordinator
-- pass updates its rollout, then inserts jobs; retention deletes a rollout, then its jobs):
-- ADD CONSTRAINT alone would lock jobs, then rollouts, and could deadlock with a running pass.
-- The key is added NOT VALID, which checks no existing row, so from here no rollout can be deleted
-- without clearing its jobs; the jobs that already name a deleted one are cleared next, and
-- c0a1b2c3d414 validates the key without holding up writes. Writes to jobs wait while this
-- revision reads the table twice (the UPDATE and the index), about a second per million jobs.
LOCK TABLE rollouts IN SHARE ROW EXCLUSIVE MODE;
ALTER TABLE jobs ADD CONSTRAINT jobs_rollout_fkey FOREIGN KEY (rollout_id)
    REFERENCES rollouts (id) ON DELETE SET NULL NOT VALID;
UPDATE jobs j SET rollout_id = NULL
 WHERE j.rollout_id IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM rollouts r WHERE r.id = j.rollout_id);
-- The key's ON DELETE finds a rollout's jobs through this index instead of reading every job;
-- jobs outside any rollout (manual ones) are left out of it.
CREATE INDEX jobs_rollout_idx ON jobs (rollout_id) WHERE rollout_id IS NOT NULL;

-- downgrade
ALTER TABLE jobs DROP CONSTRAINT jobs_rollout_fkey;
DROP INDEX jobs_rollout_idx;
