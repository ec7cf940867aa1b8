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
 * Where a batch of a prune round stopped: the last job it locked, in `(finished_at, id)` order.
 * `finishedAt` is finished_at as PostgreSQL writes it (text keeps the microseconds a Date drops:
 * a cursor rounded below a kept job would have the next batch read it again).
 */
export interface ExpiredJobCursor {
  readonly finishedAt: string;
  readonly id: string;
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
 * One batch from the oldest job; a round of batches goes through {@link pruneFinishedJobBatch}.
 *
 * @returns how many jobs it deleted; 0 when `retentionDays` is 0 (keep everything)
 */
export async function pruneFinishedJobs(
  db: Queryable,
  retentionDays: number,
  limit: number = RETENTION_JOB_BATCH,
): Promise<number> {
  return (await pruneFinishedJobBatch(db, retentionDays, { limit, after: null })).deleted;
}

/**
 * One batch of a prune round: deletes what {@link pruneFinishedJobs} deletes, examining only the
 * expired jobs after `after` in `(finished_at, id)` order (from the oldest when null), and says
 * where the next batch starts: after the last job this one locked. Every expired job before that
 * was examined by this batch or an earlier one of the round, and is kept (a tenant's latest, a
 * rollout's, one with a delivery pending) or was locked by another session: another process
 * pruning at the same time deletes or keeps it. So a round reads each expired job about once,
 * instead of every batch reading again past all the jobs kept before its own (one per idle
 * tenant: tens of thousands in a large fleet). A job that becomes deletable behind the cursor in the middle of a
 * round (its tenant's next job arrives, its delivery ends, its rollout is deleted), or that was
 * locked by something else than a prune, is deleted by the next round.
 *
 * @returns how many jobs it deleted, and where the next batch starts: null once no expired job
 *   is left after this batch's, or when `retentionDays` is 0 (keep everything)
 */
export async function pruneFinishedJobBatch(
  db: Queryable,
  retentionDays: number,
  batch: { limit: number; after: ExpiredJobCursor | null },
): Promise<{ deleted: number; next: ExpiredJobCursor | null }> {
  if (retentionDays <= 0) return { deleted: 0, next: null };
  const { rows } = await db.query<{
    deleted: number;
    examined: number;
    finished_at: string | null;
    id: string | null;
  }>(
    `WITH candidates AS (
       SELECT j.id, j.finished_at FROM jobs j
        WHERE j.state IN ${FINISHED}
          AND j.finished_at < now() - $1::int * interval '1 day'
          AND (j.finished_at, j.id) > ($3::timestamptz, $4::uuid)
          AND j.rollout_id IS NULL
          AND EXISTS (SELECT 1 FROM jobs later
                       WHERE later.tenant_id = j.tenant_id AND later.seq > j.seq)
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                           WHERE d.job_id = j.id AND d.state = 'pending')
        ORDER BY j.finished_at, j.id
        LIMIT $2
          FOR UPDATE OF j SKIP LOCKED
     ), ${LOCKED_DELIVERIES("job_id")}, deleted AS (
       DELETE FROM jobs j
        WHERE j.id = ANY (ARRAY(SELECT id FROM candidates))
          AND j.id <> ALL (ARRAY(SELECT owner FROM deliveries WHERE state = 'pending'))
       RETURNING 1
     )
     SELECT (SELECT count(*) FROM deleted)::int AS deleted,
            (SELECT count(*) FROM candidates)::int AS examined,
            last.finished_at::text AS finished_at, last.id
       FROM (SELECT 1) one
       LEFT JOIN (SELECT finished_at, id FROM candidates
                   ORDER BY finished_at DESC, id DESC LIMIT 1) last ON true`,
    [
      retentionDays,
      batch.limit,
      batch.after?.finishedAt ?? "-infinity",
      batch.after?.id ?? "00000000-0000-0000-0000-000000000000",
    ],
  );
  const row = rows[0];
  if (row === undefined) throw new Error("the retention statement returned no row");
  // Fewer candidates than asked for: none is left after the last one.
  const next =
    row.examined < batch.limit || row.finished_at === null || row.id === null
      ? null
      : { finishedAt: row.finished_at, id: row.id };
  return { deleted: row.deleted, next };
}
