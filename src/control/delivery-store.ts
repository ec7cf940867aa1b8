import { randomUUID } from "node:crypto";
import { ErrorCode, FleetwayError } from "../engine/errors.js";
import { jsonbText } from "../engine/jsonb-text.js";
import { decodeCursor, seqKey, toPage, type Page } from "./pagination.js";
import type { Queryable } from "./queryable.js";

export type DeliveryState = "pending" | "succeeded" | "failed";

export interface DeliveryRecord {
  readonly id: string;
  readonly seq: number;
  readonly subscriptionId: string | null;
  readonly jobId: string | null;
  readonly urlSealed: string;
  readonly urlMasked: string;
  readonly messageId: string;
  readonly eventType: string;
  readonly payload: Record<string, unknown>;
  readonly state: DeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: Date | null;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  /** How many redeliveries were asked for: an attempt compares it with what it started with. */
  readonly redeliveries: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface AttemptRecord {
  readonly attempt: number;
  readonly startedAt: Date;
  readonly durationMs: number;
  readonly statusCode: number | null;
  readonly responseExcerpt: string | null;
  readonly error: string | null;
  readonly nextAttemptAt: Date | null;
}

interface DeliveryRow {
  id: string;
  seq: string;
  subscription_id: string | null;
  job_id: string | null;
  url_sealed: string;
  url_masked: string;
  message_id: string;
  event_type: string;
  payload: Record<string, unknown>;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  redeliveries: number;
  created_at: Date;
  updated_at: Date;
}

const toDelivery = (r: DeliveryRow): DeliveryRecord => ({
  id: r.id,
  seq: Number(r.seq),
  subscriptionId: r.subscription_id,
  jobId: r.job_id,
  urlSealed: r.url_sealed,
  urlMasked: r.url_masked,
  messageId: r.message_id,
  eventType: r.event_type,
  payload: r.payload,
  state: r.state,
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  lastStatusCode: r.last_status_code,
  lastError: r.last_error,
  redeliveries: r.redeliveries,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export interface NewDelivery {
  readonly subscriptionId: string | null;
  readonly jobId: string | null;
  readonly rolloutId?: string | null;
  readonly urlSealed: string;
  readonly urlMasked: string;
  readonly eventType: string;
  readonly payload: Record<string, unknown>;
}

/**
 * Records deliveries due now, in one statement; returns their ids for the queue. A delivery to a
 * subscription deleted since its event found it is left out (its row would fail the foreign key,
 * and with it the transaction recording the event): the subscription is locked (FOR KEY SHARE)
 * while the delivery is inserted, so a delete either comes first and is seen, or waits.
 */
export async function insertDeliveries(
  db: Queryable,
  deliveries: readonly NewDelivery[],
): Promise<string[]> {
  if (deliveries.length === 0) return [];
  const ids = deliveries.map(() => randomUUID());
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO webhook_deliveries (id, subscription_id, job_id, url_sealed, url_masked, message_id,
                                     event_type, payload, state, next_attempt_at, rollout_id)
     SELECT d.id, d.subscription_id, d.job_id, d.url_sealed, d.url_masked, d.message_id,
            d.event_type, d.payload, 'pending', now(), d.rollout_id
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                   $7::text[], $8::jsonb[], $9::uuid[]) WITH ORDINALITY
            AS d (id, subscription_id, job_id, url_sealed, url_masked, message_id, event_type,
                  payload, rollout_id, ord)
      WHERE d.subscription_id IS NULL
         OR EXISTS (SELECT 1 FROM webhook_subscriptions s WHERE s.id = d.subscription_id
                    FOR KEY SHARE)
      ORDER BY d.ord
     RETURNING id`,
    [
      ids,
      deliveries.map((d) => d.subscriptionId),
      deliveries.map((d) => d.jobId),
      deliveries.map((d) => d.urlSealed),
      deliveries.map((d) => d.urlMasked),
      ids.map((id) => `msg_${id.replace(/-/g, "")}`),
      deliveries.map((d) => d.eventType),
      // The payload echoes the job (an error message may hold a NUL, which jsonb refuses).
      deliveries.map((d) => jsonbText(d.payload)),
      deliveries.map((d) => d.rolloutId ?? null),
    ],
  );
  return rows.map((r) => r.id);
}

export function deliveryNotFound(id: string): FleetwayError {
  return new FleetwayError(ErrorCode.DELIVERY_NOT_FOUND, `Delivery '${id}' does not exist`, {
    deliveryId: id,
  });
}

export async function getDelivery(db: Queryable, id: string): Promise<DeliveryRecord | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await db.query<DeliveryRow>("SELECT * FROM webhook_deliveries WHERE id = $1", [
    id,
  ]);
  return rows[0] === undefined ? null : toDelivery(rows[0]);
}

export async function listDeliveries(
  db: Queryable,
  filter: { subscriptionId?: string; jobId?: string; limit: number; cursor?: string },
): Promise<Page<DeliveryRecord>> {
  const before = decodeCursor(filter.cursor, seqKey);
  const { rows } = await db.query<DeliveryRow>(
    `SELECT * FROM webhook_deliveries
      WHERE ($1::uuid IS NULL OR subscription_id = $1::uuid) AND ($2::uuid IS NULL OR job_id = $2::uuid)
        AND ($3::bigint IS NULL OR seq < $3::bigint)
      ORDER BY seq DESC LIMIT $4`,
    [filter.subscriptionId ?? null, filter.jobId ?? null, before, filter.limit + 1],
  );
  return toPage(rows.map(toDelivery), filter.limit, (d) => d.seq);
}

export async function listAttempts(db: Queryable, deliveryId: string): Promise<AttemptRecord[]> {
  const { rows } = await db.query<{
    attempt: number;
    started_at: Date;
    duration_ms: number;
    status_code: number | null;
    response_excerpt: string | null;
    error: string | null;
    next_attempt_at: Date | null;
  }>("SELECT * FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt", [deliveryId]);
  return rows.map((r) => ({
    attempt: r.attempt,
    startedAt: r.started_at,
    durationMs: r.duration_ms,
    statusCode: r.status_code,
    responseExcerpt: r.response_excerpt,
    error: r.error,
    nextAttemptAt: r.next_attempt_at,
  }));
}

/**
 * What became of an attempt's record: `recorded` (with `redelivered`, see {@link recordAttempt});
 * `already-recorded` when another run of the same queue entry recorded this attempt first;
 * `gone` when the delivery no longer exists (its subscription or job was deleted meanwhile).
 */
export type AttemptRecording =
  | { readonly kind: "recorded"; readonly redelivered: boolean }
  | { readonly kind: "already-recorded" }
  | { readonly kind: "gone" };

/**
 * Logs one attempt and moves the delivery on, in one statement so the two never disagree.
 * `startedWith` is the delivery as the attempt read it before sending. When a redelivery was
 * asked for since (see {@link resetForRedelivery}), the attempt does not decide the delivery's
 * state, which would overwrite the request: the delivery stays pending, due now, and
 * `redelivered` tells the caller to send it again at once.
 *
 * BullMQ runs a queue entry at least once, so two runs may send the same attempt (the first's
 * lock lapsed during a slow POST): only the first to record it moves the delivery on, and the
 * second learns it was `already-recorded` instead of failing the attempts' primary key.
 */
export async function recordAttempt(
  db: Queryable,
  startedWith: Pick<DeliveryRecord, "id" | "redeliveries">,
  attempt: Omit<AttemptRecord, "nextAttemptAt"> & { nextAttemptAt: Date | null },
  state: DeliveryState,
): Promise<AttemptRecording> {
  // The row lock taken by the UPDATE orders this against a redelivery's, and against another
  // run recording the same attempt: whichever commits second sees the other's write (READ
  // COMMITTED re-checks `attempts < $2` on the row the first committed), so the second run's
  // UPDATE matches nothing and its INSERT, which follows the UPDATE, logs nothing.
  const { rows } = await db.query<{ redelivered: boolean }>(
    `WITH moved AS (
       UPDATE webhook_deliveries
          SET attempts = $2,
              state = CASE WHEN redeliveries = $10 THEN $9 ELSE 'pending' END,
              next_attempt_at = CASE WHEN redeliveries = $10 THEN $8 ELSE now() END,
              last_status_code = $5, last_error = $7, updated_at = now()
        WHERE id = $1 AND attempts < $2
        RETURNING redeliveries <> $10 AS redelivered, next_attempt_at
     ), logged AS (
       INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code,
                                     response_excerpt, error, next_attempt_at)
       SELECT $1, $2, $3, $4, $5, $6, $7, moved.next_attempt_at FROM moved
     )
     SELECT redelivered FROM moved`,
    [
      startedWith.id,
      attempt.attempt,
      attempt.startedAt,
      attempt.durationMs,
      attempt.statusCode,
      attempt.responseExcerpt,
      attempt.error,
      attempt.nextAttemptAt,
      state,
      startedWith.redeliveries,
    ],
  );
  if (rows[0] !== undefined) return { kind: "recorded", redelivered: rows[0].redelivered };
  // Nothing matched: a new statement (a new snapshot) sees what the other run committed.
  const { rowCount } = await db.query("SELECT 1 FROM webhook_deliveries WHERE id = $1", [
    startedWith.id,
  ]);
  return rowCount === 0 ? { kind: "gone" } : { kind: "already-recorded" };
}

/**
 * Queues a delivery again now, whatever became of it (the attempt log keeps its history), and
 * counts the request, so an attempt in flight meanwhile leaves the delivery to it (recordAttempt).
 */
export async function resetForRedelivery(db: Queryable, id: string): Promise<DeliveryRecord> {
  const { rows } = await db.query<DeliveryRow>(
    `UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = now(), updated_at = now(),
            redeliveries = redeliveries + 1
      WHERE id = $1 RETURNING *`,
    [id],
  );
  if (rows[0] === undefined) throw deliveryNotFound(id);
  return toDelivery(rows[0]);
}

/**
 * Where a page of overdue deliveries ended. `dueAt` is next_attempt_at as PostgreSQL writes it
 * (text keeps the microseconds a Date drops: deliveries recorded in one statement share one
 * next_attempt_at, and a cursor rounded below it would return the same page again).
 */
export interface OverdueCursor {
  readonly dueAt: string;
  readonly seq: number;
}

/**
 * One page of the pending deliveries that should have been attempted by now (for the reconciler),
 * most overdue first, after `after` (from the first when null). Keyed on (next_attempt_at, seq),
 * the pending index's order, so each page reads only its own rows however large the backlog.
 */
export async function overdueDeliveries(
  db: Queryable,
  olderThanMs: number,
  page: { limit: number; after: OverdueCursor | null },
): Promise<{ deliveries: DeliveryRecord[]; next: OverdueCursor | null }> {
  const { rows } = await db.query<DeliveryRow & { due_at: string }>(
    `SELECT *, next_attempt_at::text AS due_at FROM webhook_deliveries
      WHERE state = 'pending' AND next_attempt_at < now() - make_interval(secs => $1::double precision / 1000)
        AND next_attempt_at >= $3::timestamptz AND (next_attempt_at, seq) > ($3::timestamptz, $4::bigint)
      ORDER BY next_attempt_at, seq LIMIT $2`,
    [olderThanMs, page.limit, page.after?.dueAt ?? "-infinity", page.after?.seq ?? 0],
  );
  const last = rows.at(-1);
  return {
    deliveries: rows.map(toDelivery),
    next:
      last === undefined || rows.length < page.limit
        ? null
        : { dueAt: last.due_at, seq: Number(last.seq) },
  };
}
