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
  /** Null when the tenant was deleted after the job was queued. */
  readonly tenant: ClaimedTenant | null;
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
  claimed_tenant_id: string | null;
  claimed_database_url_sealed: string | null;
  claimed_schema_name: string | null;
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
       FROM claimed LEFT JOIN tenants t ON t.id = claimed.tenant_id`,
    [jobId, workerId, JSON.stringify({ workerId })],
  );
  const row = rows[0];
  if (row === undefined) return null;
  const tenant =
    row.claimed_tenant_id === null || row.claimed_database_url_sealed === null
      ? null
      : {
          id: row.claimed_tenant_id,
          databaseUrlSealed: row.claimed_database_url_sealed,
          schema: row.claimed_schema_name ?? "public",
        };
  return {
    job: toJob(row),
    tenant,
    subscribed: {
      jobEvents: row.claimed_job_events_subscribed,
      tenantReady: row.claimed_tenant_ready_subscribed,
    },
  };
}
