-- revision: c0a1b2c3d417
-- down_revision: c0a1b2c3d415
-- message: announce a job's end only while the NOTIFY queue is less than half full

-- upgrade
-- PostgreSQL keeps a notification until every session listening on the server has read it. One
-- listener that stops reading (an API process whose event loop hangs, a stuck client) lets the
-- queue fill, and once it is full every COMMIT of a transaction that notified fails (SQLSTATE
-- 54000): a job's outcome could not be recorded. Nobody needs the notification (a waiting request
-- reads its job again every few seconds), so from half full on it is skipped and the outcome
-- commits. Half leaves room for the notifications sent between the check and their commit.
-- The usage is an argument so that what happens at each level can be tried without filling the
-- queue; jobs_notify_ended passes the server's pg_notification_queue_usage().
-- Returns whether it notified.
CREATE FUNCTION fleetway_notify_if_queue_has_room(
  channel text, payload text, queue_usage double precision
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF queue_usage >= 0.5 THEN
    RETURN false;
  END IF;
  PERFORM pg_notify(channel, payload);
  RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION jobs_notify_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM fleetway_notify_if_queue_has_room(
    'fleetway_job_ended', NEW.id::text, pg_notification_queue_usage()
  );
  RETURN NULL;
END
$$;

-- downgrade
CREATE OR REPLACE FUNCTION jobs_notify_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('fleetway_job_ended', NEW.id::text);
  RETURN NULL;
END
$$;

DROP FUNCTION fleetway_notify_if_queue_has_room(text, text, double precision);
