-- revision: c0a1b2c3d406
-- down_revision: c0a1b2c3d405
-- message: announce each job's end on a channel, for requests waiting for it

-- upgrade
-- GET /v1/jobs/{id}?wait=N holds the request until the job ends. Rather than polling, the API
-- LISTENs on fleetway_job_ended, and this trigger sends the job's id whenever a job reaches a
-- final state, by whatever path (the worker's outcome, a cancel, the reconciler). PostgreSQL
-- delivers the notification when the change commits, so a woken request reads the final state.
-- A row trigger costs a function call per finished job, nothing on other updates (the WHEN
-- clause is checked without calling it).
CREATE FUNCTION jobs_notify_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('fleetway_job_ended', NEW.id::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify_ended AFTER UPDATE OF state ON jobs
    FOR EACH ROW
    WHEN (OLD.state IN ('queued', 'running') AND NEW.state IN ('succeeded', 'failed', 'cancelled'))
    EXECUTE FUNCTION jobs_notify_ended();

-- downgrade
DROP TRIGGER jobs_notify_ended ON jobs;
DROP FUNCTION jobs_notify_ended();
