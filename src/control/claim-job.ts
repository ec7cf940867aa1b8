import { jobColumns, toJob, type JobRecord, type JobRow } from "./job-record.js";
import type { Queryable } from "./queryable.js";

/** What a worker needs of the job's tenant to run it. */
export interface ClaimedTenant {
  readonly id: string;
  readonly databaseUrlSealed: string;
  readonly schema: string;
}

export interface ClaimedJob {
  readonly job: JobRecord;
  /** Always there: deleting a tenant deletes its jobs (see {@link claimJobForRun}). */
  readonly tenant: ClaimedTenant;
  /**
   * Which events of this job enabled webhook subscriptions ask for: their deliveries are then
   * written with the events (JobEventPublisher.commitWithDeliveries).
   */
  readonly subscribed: {
    /** Any `job.*` event: the progress writes and the outcome may need deliveries. */
    readonly jobEvents: boolean;
    /** `tenant.ready`: the outcome of a tenant's first successful job may need one. */
    readonly tenantReady: boolean;
  };
}

const JOB_COLUMNS = jobColumns();
const CLAIMED_COLUMNS = jobColumns("claimed");

interface ClaimRow extends JobRow {
  claimed_tenant_id: string;
  claimed_database_url_sealed: string;
  claimed_schema_name: string;
  claimed_job_events_subscribed: boolean;
  claimed_tenant_ready_subscribed: boolean;
}

/**
 * Claims a queued (or abandoned running) job for `workerId` in one statement: marks it running,
 * counts the attempt, appends `job.running` on the first attempt, and returns the job with its
 * tenant's connection details and whether webhook subscriptions may want its events. Null when
 * the job is not claimable (finished, cancel requested, or gone); the caller reads the job to
 * tell which. A finished job is left alone, so BullMQ delivering a job twice changes nothing; a
 * running one is claimed again (a re-run after a crash).
 *
 * The job's tenant is read on the statement's snapshot, which has it whenever it has the job: a
 * job is inserted only while its tenant exists (its foreign key), and deleting a tenant deletes
 * its jobs in the same transaction (ON DELETE CASCADE); besides, a tenant with an active job is
 * not deleted (deleteTenant).
 */
export async function claimJobForRun(
  db: Queryable,
  jobId: string,
  workerId: string,
): Promise<ClaimedJob | null> {
  const { rows } = await db.query<ClaimRow>(
    `WITH claimed AS (
       UPDATE jobs SET state = 'running', phase = 'connecting', worker_id = $2,
              attempts = attempts + 1, started_at = COALESCE(started_at, now()),
              heartbeat_at = now(), updated_at = now(),
              event_seq = event_seq + CASE WHEN attempts = 0 THEN 1 ELSE 0 END
        WHERE id = $1 AND state IN ('queued', 'running') AND NOT cancel_requested
        RETURNING ${JOB_COLUMNS}, event_seq
     ), running_event AS (
       INSERT INTO job_events (job_id, seq, type, data)
       SELECT id, event_seq, 'job.running', $3::jsonb FROM claimed WHERE attempts = 1
     )
     SELECT ${CLAIMED_COLUMNS}, t.id AS claimed_tenant_id,
            t.database_url_sealed AS claimed_database_url_sealed,
            t.schema_name AS claimed_schema_name,
            EXISTS (SELECT 1 FROM webhook_subscriptions s
                     WHERE s.enabled
                       AND EXISTS (SELECT 1 FROM unnest(s.event_types) AS e (type)
                                    WHERE e.type LIKE 'job.%'))
              AS claimed_job_events_subscribed,
            EXISTS (SELECT 1 FROM webhook_subscriptions s
                     WHERE s.enabled AND 'tenant.ready' = ANY (s.event_types))
              AS claimed_tenant_ready_subscribed
       FROM claimed JOIN tenants t ON t.id = claimed.tenant_id`,
    [jobId, workerId, JSON.stringify({ workerId })],
  );
  const row = rows[0];
  if (row === undefined) return null;
  return {
    job: toJob(row),
    tenant: {
      id: row.claimed_tenant_id,
      databaseUrlSealed: row.claimed_database_url_sealed,
      schema: row.claimed_schema_name,
    },
    subscribed: {
      jobEvents: row.claimed_job_events_subscribed,
      tenantReady: row.claimed_tenant_ready_subscribed,
    },
  };
}
