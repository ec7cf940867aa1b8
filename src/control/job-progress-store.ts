import { jobColumns, toJob, type JobRecord, type JobRow } from "./job-record.js";
import type { JobOutcome, JobProgress } from "./job-store.js";
import { jsonbText } from "../engine/jsonb-text.js";
import type { Queryable } from "./queryable.js";

const JOB_COLUMNS = jobColumns();
const JOB_COLUMNS_OF_CTE = jobColumns("job");

/** An event to append to a job's log. */
export interface NewJobEvent {
  readonly type: string;
  readonly data: Record<string, unknown>;
}

/** A webhook subscription that asked for an event, as much as a delivery needs. */
export interface EventSubscriber {
  readonly id: string;
  readonly urlSealed: string;
  readonly urlMasked: string;
}

/** Subscription columns as statements that join `webhook_subscriptions` for one event return them. */
export interface SubscriptionColumns {
  subscription_id: string | null;
  subscription_url_sealed: string | null;
  subscription_url_masked: string | null;
}

/** The subscriptions of rows that joined `webhook_subscriptions` (no subscription: nulls). */
export function subscribersOf(rows: readonly SubscriptionColumns[]): EventSubscriber[] {
  return rows.flatMap((r) =>
    r.subscription_id === null || r.subscription_url_sealed === null
      ? []
      : [
          {
            id: r.subscription_id,
            urlSealed: r.subscription_url_sealed,
            urlMasked: r.subscription_url_masked ?? "",
          },
        ],
  );
}

/** An appended event with its sequence number and the subscriptions that want it. */
export interface AppendedJobEvent {
  readonly seq: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly subscribers: readonly EventSubscriber[];
}

interface Row {
  seq: number;
  type: string;
  subscription_id: string | null;
  url_sealed: string | null;
  url_masked: string | null;
}

/**
 * Writes a running job's progress and appends events to its log in ONE statement, returning each
 * event's sequence number and the enabled subscriptions that asked for its type (only for types
 * in `webhookTypes`). A worker flushes its progress through this: one round trip and one commit
 * however many steps finished meanwhile, instead of three statements per step.
 *
 * The progress only applies while the job is `running` (a cancelled or finished job keeps what it
 * has). Events are appended only while the job is queued or running: a job's outcome event is its
 * last, so a late write (a worker that lost its job, progress racing a cancel) appends nothing and
 * returns no events. The exception is `options.ending`: the caller's transaction has just ended the
 * job (cancelQueuedJob) and these are the events of that ending. Sequence numbers come from the
 * job row's counter, bumped in the same UPDATE: the row lock serializes writers, so numbers never
 * collide or skip, and a writer waiting for it sees the state the one before it committed.
 */
export async function writeJobProgress(
  db: Queryable,
  jobId: string,
  progress: JobProgress,
  events: readonly NewJobEvent[],
  webhookTypes: readonly string[],
  options: { readonly ending?: boolean } = {},
): Promise<AppendedJobEvent[]> {
  const { rows } = await db.query<Row>(
    `WITH job AS (
       UPDATE jobs SET
         phase = CASE WHEN state = 'running' AND $2 THEN $3 ELSE phase END,
         from_heads = CASE WHEN state = 'running' THEN COALESCE($4, from_heads) ELSE from_heads END,
         steps_done = CASE WHEN state = 'running' THEN COALESCE($5, steps_done) ELSE steps_done END,
         steps_total = CASE WHEN state = 'running' THEN COALESCE($6, steps_total) ELSE steps_total END,
         current_revision = CASE WHEN state = 'running' AND $7 THEN $8 ELSE current_revision END,
         steps = CASE WHEN state = 'running' THEN COALESCE($9, steps) ELSE steps END,
         error = CASE WHEN state = 'running' AND $10 THEN $11::jsonb ELSE error END,
         heartbeat_at = CASE WHEN state = 'running' AND $15 THEN now() ELSE heartbeat_at END,
         updated_at = CASE WHEN state = 'running' AND $15 THEN now() ELSE updated_at END,
         event_seq = event_seq + cardinality($12::text[])
       WHERE id = $1 AND (state IN ('queued', 'running') OR $16)
       RETURNING event_seq
     ), appended AS (
       INSERT INTO job_events (job_id, seq, type, data)
       SELECT $1, job.event_seq - cardinality($12::text[]) + e.ord, e.type, e.data
         FROM job, unnest($12::text[], $13::jsonb[]) WITH ORDINALITY AS e (type, data, ord)
       RETURNING seq, type
     )
     SELECT a.seq, a.type, s.id AS subscription_id, s.url_sealed, s.url_masked
       FROM appended a
       LEFT JOIN webhook_subscriptions s
         ON a.type = ANY ($14::text[]) AND s.enabled AND a.type = ANY (s.event_types)
      ORDER BY a.seq, s.id`,
    [
      jobId,
      progress.phase !== undefined,
      progress.phase ?? null,
      progress.fromHeads === undefined ? null : [...progress.fromHeads],
      progress.stepsDone ?? null,
      progress.stepsTotal ?? null,
      progress.currentRevision !== undefined,
      progress.currentRevision ?? null,
      progress.steps === undefined ? null : jsonbText(progress.steps),
      progress.error !== undefined,
      progress.error === undefined || progress.error === null ? null : jsonbText(progress.error),
      events.map((e) => e.type),
      events.map((e) => jsonbText(e.data)),
      [...webhookTypes],
      // Only the job's worker writes progress: events alone (a cancel request, appended by the
      // API) are no sign that the worker lives, and must not keep the reconciler from seeing
      // that it died.
      Object.values(progress).some((value) => value !== undefined),
      options.ending === true,
    ],
  );
  return appendedEvents(rows, events);
}

/**
 * The appended events from rows ordered by seq, one per (event, subscriber): the events got
 * consecutive numbers ending at the last row's, in the order they were given.
 */
function appendedEvents(
  rows: readonly (Omit<Row, "seq" | "type"> & { seq: number | null; type: string | null })[],
  events: readonly NewJobEvent[],
): AppendedJobEvent[] {
  const firstSeq = (rows.at(-1)?.seq ?? 0) - events.length + 1;
  const appended = new Map<number, AppendedJobEvent & { subscribers: EventSubscriber[] }>();
  for (const row of rows) {
    if (row.seq === null || row.type === null) continue;
    let event = appended.get(row.seq);
    if (event === undefined) {
      const data = events[row.seq - firstSeq]?.data ?? {};
      event = { seq: row.seq, type: row.type, data, subscribers: [] };
      appended.set(row.seq, event);
    }
    if (row.subscription_id !== null && row.url_sealed !== null) {
      event.subscribers.push({
        id: row.subscription_id,
        urlSealed: row.url_sealed,
        urlMasked: row.url_masked ?? "",
      });
    }
  }
  return [...appended.values()];
}

/** A tenant's heads as a job left them, recorded with the job's outcome. */
export interface JobHeads {
  readonly tenantId: string;
  /**
   * What the job committed. Null when that is unknown (the connection was lost while a COMMIT
   * may have landed): the tenant's heads are then cleared, as never seen, so that nothing (a
   * rollout's skip, the tenant list's revision filter, the fleet view) goes by a guess.
   */
  readonly heads: readonly string[] | null;
  /** Where the job ran (as claimed): a tenant moved meanwhile (PATCH) keeps its heads unknown. */
  readonly databaseUrlSealed: string;
  readonly schema: string;
}

/** The outcome's statement found the tenant's first success: these subscriptions want `tenant.ready`. */
export interface BecameReady {
  readonly subscribers: readonly EventSubscriber[];
}

/**
 * The CTEs recording the heads a job left (`$12` tenant, `$13` heads, null when unknown) and, when
 * it succeeded, marking the tenant ready on its first success, only when `job` (the outcome's
 * UPDATE) moved the job: an attempt another attempt already finished leaves the tenant's heads
 * alone. So does a tenant whose database or schema changed since the job was claimed (`$14`,
 * `$15`): its new place's heads are not these. The tenant row is locked first (FOR NO KEY UPDATE:
 * job inserts' foreign-key checks need not wait), so two first successes cannot both see it not
 * ready. A failed or cancelled job records its heads too (steps it committed before it stopped
 * moved the tenant) but never makes the tenant ready.
 */
const RECORD_HEADS = `, ready_before AS (
       SELECT t.ready_at, job.state = 'succeeded' AS succeeded FROM tenants t, job
        WHERE t.id = $12 AND t.database_url_sealed = $14 AND t.schema_name = $15
          FOR NO KEY UPDATE OF t
     ), tenant AS (
       UPDATE tenants t SET heads = $13::text[],
              heads_seen_at = CASE WHEN $13::text[] IS NULL THEN NULL ELSE now() END,
              ready_at = CASE WHEN ready_before.succeeded THEN COALESCE(t.ready_at, now())
                              ELSE t.ready_at END
         FROM ready_before WHERE t.id = $12
       RETURNING ready_before.succeeded AND ready_before.ready_at IS NULL AS became_ready
     )`;

/** The columns telling whether the tenant became ready and who wants to hear it. */
const BECAME_READY_COLUMNS = `, (SELECT became_ready FROM tenant) AS became_ready,
            (SELECT json_agg(json_build_object('id', s.id, 'urlSealed', s.url_sealed,
                                               'urlMasked', s.url_masked) ORDER BY s.id)
               FROM tenant, webhook_subscriptions s
              WHERE tenant.became_ready AND s.enabled AND 'tenant.ready' = ANY (s.event_types))
              AS ready_subscribers`;

/**
 * Moves an active job to its final state with the worker's last progress (`last`: what its
 * recorder had not written yet) and appends `events` to its log (the last progress events, then
 * the outcome's), in ONE statement: the job row, its events and the subscriptions that want them,
 * as {@link writeJobProgress} returns them. `heads` records the tenant's heads the job left in the
 * same statement and, after a success, reports the tenant's first success (`ready`). All of it happens only if the job
 * is still queued or running; a job another attempt already finished is left as it is, with its
 * tenant, and gets no events (`job` null).
 */
export async function finishJobWithEvents(
  db: Queryable,
  jobId: string,
  outcome: JobOutcome,
  last: Pick<JobProgress, "fromHeads" | "stepsTotal" | "stepsDone">,
  events: readonly NewJobEvent[],
  webhookTypes: readonly string[],
  heads?: JobHeads,
): Promise<{ job: JobRecord | null; appended: AppendedJobEvent[]; ready: BecameReady | null }> {
  const { rows } = await db.query<
    JobRow & {
      appended_seq: number | null;
      appended_type: string | null;
      subscription_id: string | null;
      url_sealed: string | null;
      url_masked: string | null;
      became_ready?: boolean | null;
      ready_subscribers?: EventSubscriber[] | null;
    }
  >(
    `WITH job AS (
       UPDATE jobs SET state = $2, phase = NULL, current_revision = NULL,
              to_heads = COALESCE($3, to_heads), error = $4::jsonb,
              steps = COALESCE($5, steps), steps_done = COALESCE($6, steps_done),
              from_heads = COALESCE($10, from_heads), steps_total = COALESCE($11, steps_total),
              finished_at = now(), updated_at = now(),
              event_seq = event_seq + cardinality($7::text[])
        WHERE id = $1 AND state IN ('queued', 'running')
        RETURNING ${JOB_COLUMNS}, event_seq
     ), appended AS (
       INSERT INTO job_events (job_id, seq, type, data)
       SELECT $1, job.event_seq - cardinality($7::text[]) + e.ord, e.type, e.data
         FROM job, unnest($7::text[], $8::jsonb[]) WITH ORDINALITY AS e (type, data, ord)
       RETURNING seq, type
     )${heads === undefined ? "" : RECORD_HEADS}
     SELECT ${JOB_COLUMNS_OF_CTE}, a.seq AS appended_seq, a.type AS appended_type,
            s.id AS subscription_id, s.url_sealed, s.url_masked${heads === undefined ? "" : BECAME_READY_COLUMNS}
       FROM job
       LEFT JOIN appended a ON true
       LEFT JOIN webhook_subscriptions s
         ON a.type = ANY ($9::text[]) AND s.enabled AND a.type = ANY (s.event_types)
      ORDER BY a.seq, s.id`,
    [
      jobId,
      outcome.state,
      outcome.toHeads == null ? null : [...outcome.toHeads],
      outcome.error == null ? null : jsonbText(outcome.error),
      outcome.steps === undefined ? null : jsonbText(outcome.steps),
      outcome.stepsDone ?? last.stepsDone ?? null,
      events.map((e) => e.type),
      events.map((e) => jsonbText(e.data)),
      [...webhookTypes],
      last.fromHeads === undefined ? null : [...last.fromHeads],
      last.stepsTotal ?? null,
      ...(heads === undefined
        ? []
        : [
            heads.tenantId,
            heads.heads === null ? null : [...heads.heads],
            heads.databaseUrlSealed,
            heads.schema,
          ]),
    ],
  );
  const first = rows[0];
  if (first === undefined) return { job: null, appended: [], ready: null };
  return {
    job: toJob(first),
    appended: appendedEvents(
      rows.map((r) => ({
        seq: r.appended_seq,
        type: r.appended_type,
        subscription_id: r.subscription_id,
        url_sealed: r.url_sealed,
        url_masked: r.url_masked,
      })),
      events,
    ),
    ready: first.became_ready === true ? { subscribers: first.ready_subscribers ?? [] } : null,
  };
}
