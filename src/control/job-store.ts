import { randomUUID } from "node:crypto";
import { ErrorCode, FleetwayError } from "../engine/errors.js";
import type { Operation } from "../engine/plan/migration-plan.js";
import type { TransactionMode } from "../engine/runner/run-options.js";
import {
  jobColumns,
  toJob,
  type JobPhase,
  type JobRecord,
  type JobRow,
  type JobState,
  type JobStepRecord,
} from "./job-record.js";
import {
  finishJobWithEvents,
  subscribersOf,
  type AppendedJobEvent,
  type SubscriptionColumns,
} from "./job-progress-store.js";
import { decodeCursor, seqKey, toPage, type Page } from "./pagination.js";
import type { Queryable } from "./queryable.js";
import { tenantDeleting, tenantNotFound } from "./tenant-store.js";

const JOB_COLUMNS = jobColumns();
const JOB_COLUMNS_OF_CTE = jobColumns("job");

export interface NewJob {
  readonly tenantId: string;
  readonly operation: Operation;
  readonly target: string;
  readonly transactionMode: TransactionMode;
  readonly lockTimeoutMs?: number | undefined;
  readonly statementTimeoutMs?: number | undefined;
  /** Without any user:password@ (withoutCredentials): views show it as stored. */
  readonly callbackUrl?: string | undefined;
  readonly callbackSecretSealed?: string | undefined;
  readonly callbackUrlSealed?: string | undefined;
  readonly rolloutId?: string | undefined;
}

export function jobNotFound(id: string): FleetwayError {
  return new FleetwayError(ErrorCode.JOB_NOT_FOUND, `Job '${id}' does not exist`, { jobId: id });
}

/** insertJobUnlessSubscribed's gate: nobody is to be told of `job.queued`. */
const NO_JOB_QUEUED_SUBSCRIBER = `NOT EXISTS (
           SELECT 1 FROM webhook_subscriptions s WHERE s.enabled AND 'job.queued' = ANY (s.event_types))`;

/**
 * A rollout's job marks its rollout tenant active in the statement that inserts it. Only then:
 * the UPDATE fires the counting trigger on rollout_tenants even when it moves nobody.
 */
const MARK_ROLLOUT_TENANT_ACTIVE = `, in_rollout AS (
         UPDATE rollout_tenants rt SET state = 'active', job_id = job.id, error = NULL
           FROM job
          WHERE rt.rollout_id = job.rollout_id AND rt.tenant_id = job.tenant_id
       )`;

/**
 * Inserts a queued job and its first event, `job.queued`, in one statement, and returns the event
 * with the webhook subscriptions that asked for it (see writeJobProgress). A rollout's job marks
 * its tenant active in the rollout in the same statement. The partial unique index on active jobs
 * makes "one active job per tenant" hold across API instances; losing that race is TENANT_BUSY
 * naming the winner. A tenant deleted since the caller read it is TENANT_NOT_FOUND, and one whose
 * database or schema is being dropped TENANT_DELETING, at once: both leave a surrounding
 * transaction usable (a rollout's pass goes on with its other tenants).
 *
 * @throws FleetwayError TENANT_NOT_FOUND, TENANT_DELETING, or TENANT_BUSY naming the tenant's
 *   active job
 */
export async function insertJob(
  db: Queryable,
  job: NewJob,
  queuedData: Record<string, unknown>,
): Promise<{ job: JobRecord; queued: AppendedJobEvent }> {
  const inserted = await insertJobRow(db, job, queuedData, false);
  if (inserted === null) throw new Error("a job insert without a gate was gated");
  return inserted;
}

/**
 * {@link insertJob} on its own, outside any transaction, when nobody is to be told: it inserts
 * nothing and returns null when an enabled subscription asks for `job.queued` (whose delivery
 * must then be recorded with the event: use insertJob in a transaction). One statement and one
 * commit for the common POST, where insertJob needs BEGIN and COMMIT around it.
 *
 * @throws FleetwayError TENANT_NOT_FOUND, TENANT_DELETING, or TENANT_BUSY naming the tenant's
 *   active job
 */
export async function insertJobUnlessSubscribed(
  db: Queryable,
  job: NewJob,
  queuedData: Record<string, unknown>,
): Promise<JobRecord | null> {
  return (await insertJobRow(db, job, queuedData, true))?.job ?? null;
}

/** Null only when `unlessSubscribed` and a subscription asks for `job.queued`. */
async function insertJobRow(
  db: Queryable,
  job: NewJob,
  queuedData: Record<string, unknown>,
  unlessSubscribed: boolean,
): Promise<{ job: JobRecord; queued: AppendedJobEvent } | null> {
  // DO NOTHING (rather than catching the violation) keeps a surrounding transaction usable,
  // so the active job can be looked up and named. So does inserting only for a tenant the
  // statement found and locked (as the foreign key's check would): one deleted since the caller
  // read it (or whose deletion commits while the statement waits for its row) is not inserted
  // for, where its foreign key would have failed the statement and aborted the transaction.
  // Nor is one marked as being dropped (markTenantDeleting): the mark is checked on the row this
  // statement locked, so it holds from the mark's commit on, and a DELETE ?drop=true, which sets
  // it in the transaction that found no active job, never sees a job slip in before its drop.
  // The mark's transaction is short: nothing here waits for the drop itself.
  // INSERT ... SELECT (for the gate) types its parameters from the SELECT, hence the casts.
  const { rows } = await db.query<
    JobRow &
      SubscriptionColumns & {
        inserted: boolean;
        gate_open: boolean;
        tenant_found: boolean;
        tenant_deleting_since: Date | null;
      }
  >(
    `WITH gate AS (
       SELECT ${unlessSubscribed ? NO_JOB_QUEUED_SUBSCRIBER : "true"} AS open
     ), tenant AS (
       SELECT id, deleting_since FROM tenants WHERE id = $2::text FOR KEY SHARE
     ), job AS (
       INSERT INTO jobs (id, tenant_id, operation, target, transaction_mode, lock_timeout_ms,
                         statement_timeout_ms, state, callback_url, callback_secret_sealed,
                         rollout_id, callback_url_sealed, event_seq)
       SELECT $1::uuid, tenant.id, $3::text, $4::text, $5::text, $6::integer, $7::integer, 'queued',
              $8::text, $9::text, $10::uuid, $11::text, 1
         FROM gate, tenant WHERE gate.open AND tenant.deleting_since IS NULL
       ON CONFLICT DO NOTHING RETURNING ${JOB_COLUMNS}
     ), queued AS (
       INSERT INTO job_events (job_id, seq, type, data)
       SELECT id, 1, 'job.queued', $12::jsonb FROM job
     )${job.rolloutId === undefined ? "" : MARK_ROLLOUT_TENANT_ACTIVE}
     SELECT ${JOB_COLUMNS_OF_CTE}, job.id IS NOT NULL AS inserted, gate.open AS gate_open,
            EXISTS (SELECT 1 FROM tenant) AS tenant_found,
            (SELECT deleting_since FROM tenant) AS tenant_deleting_since,
            s.id AS subscription_id, s.url_sealed AS subscription_url_sealed,
            s.url_masked AS subscription_url_masked
       FROM gate
       LEFT JOIN job ON true
       LEFT JOIN webhook_subscriptions s
         ON job.id IS NOT NULL AND s.enabled AND 'job.queued' = ANY (s.event_types)
      ORDER BY s.id`,
    [
      randomUUID(),
      job.tenantId,
      job.operation,
      job.target,
      job.transactionMode,
      job.lockTimeoutMs ?? null,
      job.statementTimeoutMs ?? null,
      job.callbackUrl ?? null,
      job.callbackSecretSealed ?? null,
      job.rolloutId ?? null,
      job.callbackUrlSealed ?? null,
      JSON.stringify(queuedData),
    ],
  );
  const first = rows[0];
  if (first?.inserted === true) {
    return {
      job: toJob(first),
      queued: { seq: 1, type: "job.queued", data: queuedData, subscribers: subscribersOf(rows) },
    };
  }
  if (first?.tenant_found === false) throw tenantNotFound(job.tenantId);
  if (first !== undefined && first.tenant_deleting_since !== null)
    throw tenantDeleting(job.tenantId, first.tenant_deleting_since);
  if (first?.gate_open === false) return null;
  throw tenantBusy(job.tenantId, await activeJobOf(db, job.tenantId));
}

/**
 * TENANT_BUSY naming the tenant's active job; `active` is null when that job ended between the
 * refusal and the look-up (the tenant is free by now, and a retry may succeed).
 */
export function tenantBusy(tenantId: string, active: JobRecord | null): FleetwayError {
  return new FleetwayError(
    ErrorCode.TENANT_BUSY,
    `Tenant '${tenantId}' already has an active job` +
      `${active === null ? "" : ` (${active.id}, ${active.state})`}; cancel it or wait for it to finish`,
    { tenantId, activeJobId: active?.id ?? null, activeJobState: active?.state ?? null },
  );
}

export async function getJob(db: Queryable, id: string): Promise<JobRecord | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await db.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1`, [id]);
  return rows[0] === undefined ? null : toJob(rows[0]);
}

export async function requireJob(db: Queryable, id: string): Promise<JobRecord> {
  const job = await getJob(db, id);
  if (job === null) throw jobNotFound(id);
  return job;
}

/** The tenant's queued or running job (at most one: a partial unique index), or null. */
export async function activeJobOf(db: Queryable, tenantId: string): Promise<JobRecord | null> {
  const { rows } = await db.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND state IN ('queued', 'running')`,
    [tenantId],
  );
  return rows[0] === undefined ? null : toJob(rows[0]);
}

export async function latestJobOf(db: Queryable, tenantId: string): Promise<JobRecord | null> {
  const { rows } = await db.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1`,
    [tenantId],
  );
  return rows[0] === undefined ? null : toJob(rows[0]);
}

export interface JobFilter {
  readonly limit: number;
  readonly cursor?: string;
  readonly tenantId?: string;
  readonly state?: JobState;
}

/** Newest first. */
export async function listJobs(db: Queryable, filter: JobFilter): Promise<Page<JobRecord>> {
  const before = decodeCursor(filter.cursor, seqKey);
  const { rows } = await db.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs
      WHERE ($1::bigint IS NULL OR seq < $1::bigint)
        AND ($2::text IS NULL OR tenant_id = $2::text)
        AND ($3::text IS NULL OR state = $3::text)
      ORDER BY seq DESC LIMIT $4`,
    [before, filter.tenantId ?? null, filter.state ?? null, filter.limit + 1],
  );
  return toPage(rows.map(toJob), filter.limit, (j) => j.seq);
}

export interface JobProgress {
  readonly phase?: JobPhase | null;
  readonly fromHeads?: readonly string[];
  readonly stepsDone?: number;
  readonly stepsTotal?: number;
  readonly currentRevision?: string | null;
  readonly steps?: readonly JobStepRecord[];
  readonly error?: Record<string, unknown> | null;
}

export interface JobOutcome {
  readonly state: "succeeded" | "failed" | "cancelled";
  readonly toHeads?: readonly string[] | null;
  readonly error?: Record<string, unknown> | null;
  readonly steps?: readonly JobStepRecord[];
  readonly stepsDone?: number;
}

/**
 * Moves an active job to its final state; a job already finished is not touched (returns null).
 * The outcome alone, without events: see {@link finishJobWithEvents}.
 */
export async function finishJob(
  db: Queryable,
  id: string,
  outcome: JobOutcome,
): Promise<JobRecord | null> {
  return (await finishJobWithEvents(db, id, outcome, {}, [], [])).job;
}

/** Puts a running job back to queued, e.g. before a retry or when its worker vanished. */
export async function requeueJob(db: Queryable, id: string, phase: JobPhase | null): Promise<void> {
  await db.query(
    `UPDATE jobs SET state = 'queued', phase = $2, worker_id = NULL, updated_at = now()
      WHERE id = $1 AND state = 'running'`,
    [id, phase],
  );
}

/** Flags a job for cancellation; returns the job as it is now. */
export async function requestCancel(db: Queryable, id: string): Promise<JobRecord | null> {
  const { rows } = await db.query<JobRow>(
    `UPDATE jobs SET cancel_requested = true, updated_at = now()
      WHERE id = $1 AND state IN ('queued', 'running') RETURNING ${JOB_COLUMNS}`,
    [id],
  );
  return rows[0] === undefined ? null : toJob(rows[0]);
}

/** Keeps a running job's heartbeat fresh; tells the worker whether cancellation was requested. */
export async function heartbeatJob(
  db: Queryable,
  id: string,
): Promise<{ cancelRequested: boolean; running: boolean }> {
  const { rows } = await db.query<{ cancel_requested: boolean; state: JobState }>(
    "UPDATE jobs SET heartbeat_at = now() WHERE id = $1 RETURNING cancel_requested, state",
    [id],
  );
  const row = rows[0];
  return { cancelRequested: row?.cancel_requested ?? false, running: row?.state === "running" };
}

/** One page of the active jobs, oldest first, after `afterSeq`: the reconciler walks them all. */
export async function listActiveJobs(
  db: Queryable,
  page: { limit: number; afterSeq: number },
): Promise<JobRecord[]> {
  const { rows } = await db.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') AND seq > $2
      ORDER BY seq LIMIT $1`,
    [page.limit, page.afterSeq],
  );
  return rows.map(toJob);
}

export async function countJobsByState(db: Queryable): Promise<Record<JobState, number>> {
  const { rows } = await db.query<{ state: JobState; n: number }>(
    "SELECT state, count(*)::int AS n FROM jobs GROUP BY state",
  );
  const counts: Record<JobState, number> = {
    queued: 0,
    running: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
  };
  for (const row of rows) counts[row.state] = row.n;
  return counts;
}

/**
 * What a queued job cancelled before a worker ran it says: whether an earlier attempt ran (its
 * worker lost, or its outcome unwritten: the job was queued again), which may have applied
 * revisions.
 */
export function cancelledBeforeRunMessage(attempts: number): string {
  return attempts === 0
    ? "Cancelled before it started"
    : "Cancelled before its next attempt; an earlier attempt may have applied revisions " +
        "(the tenant's status and history say where it is)";
}

/** Cancels a job that no worker has started; null when it is already running or finished. */
export async function cancelQueuedJob(db: Queryable, id: string): Promise<JobRecord | null> {
  const { rows } = await db.query<JobRow>(
    `UPDATE jobs SET state = 'cancelled', phase = NULL, cancel_requested = true,
            error = jsonb_build_object('code', 'MIGRATION_CANCELLED',
                                       'message', CASE WHEN attempts = 0 THEN $2::text ELSE $3::text END),
            finished_at = now(), updated_at = now()
      WHERE id = $1 AND state = 'queued' RETURNING ${JOB_COLUMNS}`,
    [id, cancelledBeforeRunMessage(0), cancelledBeforeRunMessage(1)],
  );
  return rows[0] === undefined ? null : toJob(rows[0]);
}
