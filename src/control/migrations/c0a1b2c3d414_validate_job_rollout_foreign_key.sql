-- revision: c0a1b2c3d414
-- down_revision: c0a1b2c3d413
-- message: validate the job-to-rollout foreign key added NOT VALID by c0a1b2c3d413

-- upgrade
-- In a transaction of its own: VALIDATE CONSTRAINT reads every job but takes only a SHARE UPDATE
-- EXCLUSIVE lock on jobs (and ROW SHARE on rollouts), so jobs are submitted, claimed and finished
-- while it runs. c0a1b2c3d413 cleared the rows it would otherwise refuse.
ALTER TABLE jobs VALIDATE CONSTRAINT jobs_rollout_fkey;

-- downgrade
-- Back to the key c0a1b2c3d413 leaves: the same key, NOT VALID (rollouts locked first, as there).
LOCK TABLE rollouts IN SHARE ROW EXCLUSIVE MODE;
ALTER TABLE jobs DROP CONSTRAINT jobs_rollout_fkey;
ALTER TABLE jobs ADD CONSTRAINT jobs_rollout_fkey FOREIGN KEY (rollout_id)
    REFERENCES rollouts (id) ON DELETE SET NULL NOT VALID;
