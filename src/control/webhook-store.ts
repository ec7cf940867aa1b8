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

/** The key this list issues: a creation time as `Date.toISOString()` wrote it. */
const createdAtKey: CursorKeyParser<string> = (value) =>
  typeof value === "string" &&
  !Number.isNaN(Date.parse(value)) &&
  new Date(value).toISOString() === value
    ? value
    : undefined;

export async function listSubscriptions(
  db: Queryable,
  page: { limit: number; cursor?: string },
): Promise<Page<SubscriptionRecord>> {
  const after = decodeCursor(page.cursor, createdAtKey);
  const { rows } = await db.query<SubscriptionRow>(
    `SELECT * FROM webhook_subscriptions WHERE ($1::timestamptz IS NULL OR created_at > $1::timestamptz)
      ORDER BY created_at, id LIMIT $2`,
    [after, page.limit + 1],
  );
  return toPage(rows.map(toSubscription), page.limit, (s) => s.createdAt.toISOString());
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
