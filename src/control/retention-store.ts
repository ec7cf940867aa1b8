import type { Queryable } from "./queryable.js";

/**
 * Jobs one pass deletes at most, each with its events, deliveries and their attempts (a few
 * dozen rows): a statement of a fraction of a second, however large the backlog. At one pass per
 * 15 s that is about 2.9 million jobs a day, per process.
 */
export const RETENTION_JOB_BATCH = 500;

/**
 * Rollout tenants one pass deletes at most with their rollouts: whole rollouts, oldest first,
 * while their tenants add up to no more than this (a single larger rollout goes alone).
 */
const RETENTION_ROLLOUT_TENANT_BATCH = 5_000;

/** How many rollouts one pass considers before the tenant budget picks among them. */
const ROLLOUT_CANDIDATES = 100;

/** The job and rollout states that never change again (the partial indexes repeat this list). */
const FINISHED = "('succeeded', 'failed', 'cancelled')";

/**
 * A CTE `deliveries (owner, state)`: the deliveries of the `candidates` CTE's rows (through
 * `column`), locked and as they are now. The candidates were judged free of pending deliveries on
 * the statement's snapshot, which misses a redelivery (resetForRedelivery) committed after it:
 * the delete then took that delivery too, though its redelivery had answered 202 and queued an
 * attempt, which found nothing to send. Locking a row reads its latest version (READ COMMITTED),
 * after waiting for a redelivery updating it, so a candidate redelivered meanwhile is kept; a
 * redelivery that comes after the lock waits for the delete and answers 404. The delete takes
 * the same locks on what it deletes (only a rollout the tenant budget leaves for the next batch
 * has its deliveries locked for nothing). MATERIALIZED: the state filter applied to it must not
 * be pushed down to before the rows are locked.
 */
const LOCKED_DELIVERIES = (column: "job_id" | "rollout_id"): string =>
  `deliveries (owner, state) AS MATERIALIZED (
       SELECT d.${column}, d.state FROM webhook_deliveries d
        WHERE d.${column} = ANY (ARRAY(SELECT id FROM candidates))
          FOR UPDATE OF d
     )`;

/**
 * Deletes finished rollouts (succeeded, failed, cancelled) that ended more than `retentionDays`
 * days ago, with their tenants and per-wave counters (ON DELETE CASCADE) and the deliveries of
 * their `rollout.*` events (and attempts). Their jobs lose their rollout (the foreign key sets
 * their rollout_id to NULL in the same statement), so those {@link pruneFinishedJobs} keeps never
 * name a rollout that is gone, and it deletes the others. A rollout is kept while one of its jobs
 * is still active (a cancelled rollout's running job finishing) or one of its deliveries is still
 * being retried, or redelivered while this runs ({@link LOCKED_DELIVERIES}).
 *
 * Several processes run this at once: each locks its candidates FOR UPDATE SKIP LOCKED, so they
 * take disjoint batches and never wait for each other, and a rollout being retried or cancelled
 * meanwhile (which locks its row) is skipped, or sees it gone.
 *
 * @returns how many rollouts it deleted; 0 when `retentionDays` is 0 (keep everything)
 */
export async function pruneFinishedRollouts(
  db: Queryable,
  retentionDays: number,
  tenantLimit: number = RETENTION_ROLLOUT_TENANT_BATCH,
): Promise<number> {
  if (retentionDays <= 0) return 0;
  const { rowCount } = await db.query(
    `WITH candidates AS (
       SELECT r.id, r.total_tenants, r.finished_at FROM rollouts r
        WHERE r.state IN ${FINISHED}
          AND r.finished_at < now() - $1::int * interval '1 day'
          AND NOT EXISTS (SELECT 1 FROM jobs j
                           WHERE j.rollout_id = r.id AND j.state IN ('queued', 'running'))
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                           WHERE d.rollout_id = r.id AND d.state = 'pending')
        ORDER BY r.finished_at, r.id
        LIMIT $3
          FOR UPDATE OF r SKIP LOCKED
     ), ${LOCKED_DELIVERIES("rollout_id")}, chosen AS (
       SELECT id FROM (SELECT id, total_tenants,
                              sum(total_tenants) OVER (ORDER BY finished_at, id) AS upto
                         FROM candidates
                        WHERE id <> ALL (ARRAY(SELECT owner FROM deliveries
                                                WHERE state = 'pending'))) c
        WHERE c.upto <= $2 OR c.upto = c.total_tenants
     ), deleted_deliveries AS (
       DELETE FROM webhook_deliveries d USING chosen c WHERE d.rollout_id = c.id
     )
     DELETE FROM rollouts r USING chosen c WHERE r.id = c.id`,
    [retentionDays, tenantLimit, ROLLOUT_CANDIDATES],
  );
  return rowCount ?? 0;
}

/**
 * Deletes finished jobs (succeeded, failed, cancelled) that ended more than `retentionDays` days
 * ago, at most `limit`, oldest first, with their events, webhook deliveries and attempts (ON
 * DELETE CASCADE). Never deleted:
 *
 * - a job of a rollout: a rollout's jobs go after it ({@link pruneFinishedRollouts}, whose
 *   deletion leaves them without one), which keeps them while it is not finished, or finished
 *   recently (its sync would take a vanished job for a deleted tenant, and count it failed);
 * - each tenant's latest job, whatever its age: it is what the tenant's status (`lastJob`), the
 *   fleet's failing tenants and the tenants' `jobState` filter report;
 * - a job one of whose deliveries is still being retried, or redelivered while this runs
 *   ({@link LOCKED_DELIVERIES}).
 *
 * An Idempotency-Key whose response names a deleted job cannot be replayed: keys expire 24 hours
 * after the request, before its job ended, and the retention is whole days.
 *
 * Several processes run this at once: FOR UPDATE SKIP LOCKED gives each a disjoint batch, so none
 * waits for another or counts a job another deleted.
 *
 * @returns how many jobs it deleted; 0 when `retentionDays` is 0 (keep everything)
 */
export async function pruneFinishedJobs(
  db: Queryable,
  retentionDays: number,
  limit: number = RETENTION_JOB_BATCH,
): Promise<number> {
  if (retentionDays <= 0) return 0;
  const { rowCount } = await db.query(
    `WITH candidates AS (
       SELECT j.id FROM jobs j
        WHERE j.state IN ${FINISHED}
          AND j.finished_at < now() - $1::int * interval '1 day'
          AND j.rollout_id IS NULL
          AND EXISTS (SELECT 1 FROM jobs later
                       WHERE later.tenant_id = j.tenant_id AND later.seq > j.seq)
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                           WHERE d.job_id = j.id AND d.state = 'pending')
        ORDER BY j.finished_at
        LIMIT $2
          FOR UPDATE OF j SKIP LOCKED
     ), ${LOCKED_DELIVERIES("job_id")}
     DELETE FROM jobs j
      WHERE j.id = ANY (ARRAY(SELECT id FROM candidates))
        AND j.id <> ALL (ARRAY(SELECT owner FROM deliveries WHERE state = 'pending'))`,
    [retentionDays, limit],
  );
  return rowCount ?? 0;
}
