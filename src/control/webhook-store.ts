import { randomUUID } from "node:crypto";
import { ErrorCode, FleetwayError } from "../engine/errors.js";
import { columnList } from "./column-list.js";
import { decodeCursor, toPage, type CursorKeyParser, type Page } from "./pagination.js";
import type { Queryable } from "./queryable.js";

export interface SubscriptionRecord {
  readonly id: string;
  readonly urlSealed: string;
  readonly urlMasked: string;
  readonly eventTypes: string[];
  readonly description: string | null;
  readonly secretSealed: string;
  readonly previousSecretSealed: string | null;
  readonly previousSecretExpiresAt: Date | null;
  readonly enabled: boolean;
  readonly disabledReason: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

interface SubscriptionRow {
  id: string;
  url_sealed: string;
  url_masked: string;
  event_types: string[];
  description: string | null;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: Date | null;
  enabled: boolean;
  disabled_reason: string | null;
  created_at: Date;
  updated_at: Date;
}

const SUBSCRIPTION_ROW: Record<keyof SubscriptionRow, true> = {
  id: true,
  url_sealed: true,
  url_masked: true,
  event_types: true,
  description: true,
  secret_sealed: true,
  previous_secret_sealed: true,
  previous_secret_expires_at: true,
  enabled: true,
  disabled_reason: true,
  created_at: true,
  updated_at: true,
};
const SUBSCRIPTION_COLUMNS = columnList<SubscriptionRow>(SUBSCRIPTION_ROW);

const toSubscription = (r: SubscriptionRow): SubscriptionRecord => ({
  id: r.id,
  urlSealed: r.url_sealed,
  urlMasked: r.url_masked,
  eventTypes: r.event_types,
  description: r.description,
  secretSealed: r.secret_sealed,
  previousSecretSealed: r.previous_secret_sealed,
  previousSecretExpiresAt: r.previous_secret_expires_at,
  enabled: r.enabled,
  disabledReason: r.disabled_reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export function webhookNotFound(id: string): FleetwayError {
  return new FleetwayError(
    ErrorCode.WEBHOOK_NOT_FOUND,
    `Webhook subscription '${id}' does not exist`,
    { webhookId: id },
  );
}

const isUuid = (id: string): boolean => /^[0-9a-f-]{36}$/i.test(id);

export async function insertSubscription(
  db: Queryable,
  s: {
    urlSealed: string;
    urlMasked: string;
    eventTypes: readonly string[];
    description: string | null;
    secretSealed: string;
  },
): Promise<SubscriptionRecord> {
  const { rows } = await db.query<SubscriptionRow>(
    `INSERT INTO webhook_subscriptions (id, url_sealed, url_masked, event_types, description, secret_sealed)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [randomUUID(), s.urlSealed, s.urlMasked, [...s.eventTypes], s.description, s.secretSealed],
  );
  return toSubscription(rows[0] as SubscriptionRow);
}

export async function requireSubscription(db: Queryable, id: string): Promise<SubscriptionRecord> {
  if (!isUuid(id)) throw webhookNotFound(id);
  const { rows } = await db.query<SubscriptionRow>(
    "SELECT * FROM webhook_subscriptions WHERE id = $1",
    [id],
  );
  if (rows[0] === undefined) throw webhookNotFound(id);
  return toSubscription(rows[0]);
}

/**
 * This list's key is the last row's (created_at, id), the ORDER BY's columns, with the time at
 * PostgreSQL's microsecond precision. A JavaScript Date keeps milliseconds only: a key read from
 * it sorts before its own row, so the next page began with that row again (forever at limit=1).
 * The time is rendered in UTC by PostgreSQL, so the key is exact whatever the session's TimeZone.
 */
const CREATED_AT_KEY = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MICROSECOND_TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})\d{3}Z$/;

/** Only a real instant passes: PostgreSQL would refuse the 30th of February that the regex lets by. */
const createdAtIdKey: CursorKeyParser<readonly [string, string]> = (value) => {
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [at, id] = value as unknown[];
  if (typeof at !== "string" || typeof id !== "string" || !UUID.test(id)) return undefined;
  const millis = MICROSECOND_TIME.exec(at)?.[1];
  if (millis === undefined) return undefined;
  const time = Date.parse(`${millis}Z`);
  return !Number.isNaN(time) && new Date(time).toISOString() === `${millis}Z`
    ? [at, id]
    : undefined;
};

export async function listSubscriptions(
  db: Queryable,
  page: { limit: number; cursor?: string },
): Promise<Page<SubscriptionRecord>> {
  const after = decodeCursor(page.cursor, createdAtIdKey);
  const { rows } = await db.query<SubscriptionRow & { cursor_at: string }>(
    `SELECT ${SUBSCRIPTION_COLUMNS}, ${CREATED_AT_KEY} AS cursor_at FROM webhook_subscriptions
      WHERE ($1::timestamptz IS NULL OR (created_at, id) > ($1::timestamptz, $2::uuid))
      ORDER BY created_at, id LIMIT $3`,
    [after?.[0] ?? null, after?.[1] ?? null, page.limit + 1],
  );
  const found = toPage(rows, page.limit, (r) => [r.cursor_at, r.id]);
  return { items: found.items.map(toSubscription), nextCursor: found.nextCursor };
}

export async function deleteSubscription(db: Queryable, id: string): Promise<void> {
  if (!isUuid(id)) throw webhookNotFound(id);
  const result = await db.query("DELETE FROM webhook_subscriptions WHERE id = $1", [id]);
  if (result.rowCount !== 1) throw webhookNotFound(id);
}

/** The new secret signs from now on; the old one keeps signing beside it until the grace ends. */
export async function rotateSubscriptionSecret(
  db: Queryable,
  id: string,
  newSecretSealed: string,
  graceMs: number,
): Promise<SubscriptionRecord> {
  if (!isUuid(id)) throw webhookNotFound(id);
  const { rows } = await db.query<SubscriptionRow>(
    `UPDATE webhook_subscriptions
        SET previous_secret_sealed = secret_sealed,
            previous_secret_expires_at = now() + make_interval(secs => $3::double precision / 1000),
            secret_sealed = $2, updated_at = now()
      WHERE id = $1 RETURNING *`,
    [id, newSecretSealed, graceMs],
  );
  if (rows[0] === undefined) throw webhookNotFound(id);
  return toSubscription(rows[0]);
}

export async function disableSubscription(
  db: Queryable,
  id: string,
  reason: string,
): Promise<void> {
  await db.query(
    "UPDATE webhook_subscriptions SET enabled = false, disabled_reason = $2, updated_at = now() WHERE id = $1",
    [id, reason],
  );
}

/** Enabled subscriptions that asked for this event type. */
export async function subscriptionsFor(
  db: Queryable,
  eventType: string,
): Promise<SubscriptionRecord[]> {
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT ${SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE enabled AND $1 = ANY (event_types)`,
    [eventType],
  );
  return rows.map(toSubscription);
}
