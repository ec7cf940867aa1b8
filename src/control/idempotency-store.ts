import { jsonbText } from "../engine/jsonb-text.js";
import type { Queryable } from "./queryable.js";
import type { SecretBox } from "./secret-box.js";

/**
 * How long a claim stays the first request's own while it has stored no response. Well above
 * the longest request (`GET /v1/jobs/{id}?wait=` holds up to 55 s, provisioning a tenant may take
 * a connect timeout or two): a claim this old was abandoned, by a process that died under its
 * request, and a retry with the key takes it over instead of answering 409 for ever.
 */
export const IDEMPOTENCY_LEASE_MS = 5 * 60_000;

/**
 * How long a key is remembered (Stripe's 24 hours): afterwards it may be used again for any
 * request, and the reconciler deletes it ({@link deleteExpiredIdempotencyKeys}).
 */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60_000;

export interface IdempotencyRequest {
  /** Keys are scoped per API key, so two clients cannot collide or read each other's responses. */
  readonly principal: string;
  readonly key: string;
  readonly method: string;
  readonly path: string;
  /** sha256 of method, path and body. */
  readonly requestHash: string;
}

/** The request that owns a key: it stores (or releases) the key's response. */
export interface IdempotencyOwner {
  readonly principal: string;
  readonly key: string;
  /**
   * When this request claimed the key (created_at, as PostgreSQL prints it). Storing and
   * releasing match it, so a request outliving its lease cannot write into, or delete, the claim
   * of the retry that took the key over.
   */
  readonly claimedAt: string;
}

export interface StoredResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

export type IdempotencyClaim =
  | { readonly kind: "new"; readonly owner: IdempotencyOwner }
  | { readonly kind: "replay"; readonly response: StoredResponse }
  | { readonly kind: "mismatch" }
  | { readonly kind: "in-progress" };

export interface IdempotencyTimes {
  readonly leaseMs: number;
  readonly retentionMs: number;
}

const TIMES: IdempotencyTimes = Object.freeze({
  leaseMs: IDEMPOTENCY_LEASE_MS,
  retentionMs: IDEMPOTENCY_RETENTION_MS,
});

/**
 * Claims a key for a request. One INSERT ... ON CONFLICT DO UPDATE ... WHERE makes the request
 * the owner atomically when the key is new, expired (older than the retention), or claimed by
 * the same request longer ago than the lease and never answered: concurrent retries wait on the
 * row lock and re-check the condition against the winner's fresh claim, so only one takes it
 * over. Otherwise later requests see the stored response, a different body (mismatch), or that
 * it is still being handled.
 */
export async function claimIdempotencyKey(
  db: Queryable,
  box: SecretBox,
  request: IdempotencyRequest,
  times: IdempotencyTimes = TIMES,
): Promise<IdempotencyClaim> {
  const claimed = await db.query<{ claimed_at: string }>(
    `INSERT INTO idempotency_keys AS k (principal, key, method, path, request_hash)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (principal, key) DO UPDATE
        SET method = EXCLUDED.method, path = EXCLUDED.path, request_hash = EXCLUDED.request_hash,
            created_at = EXCLUDED.created_at, status_code = NULL, response_headers = NULL,
            response_body = NULL, response_sealed = NULL
      WHERE k.created_at < now() - $7::float8 * interval '1 millisecond'
         OR (k.status_code IS NULL AND k.request_hash = EXCLUDED.request_hash
             AND k.created_at < now() - $6::float8 * interval '1 millisecond')
     RETURNING k.created_at::text AS claimed_at`,
    [
      request.principal,
      request.key,
      request.method,
      request.path,
      request.requestHash,
      times.leaseMs,
      times.retentionMs,
    ],
  );
  const owner = claimed.rows[0];
  if (owner !== undefined) {
    return {
      kind: "new",
      owner: { principal: request.principal, key: request.key, claimedAt: owner.claimed_at },
    };
  }
  const { rows } = await db.query<{
    request_hash: string;
    status_code: number | null;
    response_headers: Record<string, string> | null;
    response_body: unknown;
    response_sealed: string | null;
  }>(
    `SELECT request_hash, status_code, response_headers, response_body, response_sealed
       FROM idempotency_keys WHERE principal = $1 AND key = $2`,
    [request.principal, request.key],
  );
  const row = rows[0];
  if (row === undefined) return claimIdempotencyKey(db, box, request, times); // deleted in between
  if (row.request_hash !== request.requestHash) return { kind: "mismatch" };
  if (row.status_code === null) return { kind: "in-progress" };
  return {
    kind: "replay",
    response: {
      statusCode: row.status_code,
      headers: row.response_headers ?? {},
      // Rows stored before responses were sealed (control migration c0a1b2c3d407) hold the body
      // in response_body until they expire.
      body:
        row.response_sealed === null
          ? row.response_body
          : (JSON.parse(box.decrypt(row.response_sealed)) as unknown),
    },
  };
}

/**
 * Stores the owner's response; nothing when its claim was taken over meanwhile. The body is
 * sealed: a response may show a secret once (a webhook subscription's signing secret), which
 * must not then lie in the control database in plain text. Every body is sealed, not only those
 * of routes known to return secrets, so that a new such route cannot be forgotten; a refusal
 * may also echo what the request sent.
 */
export async function storeIdempotentResponse(
  db: Queryable,
  box: SecretBox,
  owner: IdempotencyOwner,
  response: StoredResponse,
): Promise<void> {
  await db.query(
    `UPDATE idempotency_keys SET status_code = $4, response_headers = $5, response_sealed = $6
      WHERE principal = $1 AND key = $2 AND created_at = $3::timestamptz AND status_code IS NULL`,
    [
      owner.principal,
      owner.key,
      owner.claimedAt,
      response.statusCode,
      // A header may echo the request's text, which may hold what jsonb refuses (NUL).
      jsonbText(response.headers),
      box.encrypt(JSON.stringify(response.body ?? null)),
    ],
  );
}

/**
 * Forgets a claim whose request failed on our side (5xx) or whose response could not be stored,
 * so the client can retry with the key.
 */
export async function releaseIdempotencyKey(db: Queryable, owner: IdempotencyOwner): Promise<void> {
  await db.query(
    `DELETE FROM idempotency_keys
      WHERE principal = $1 AND key = $2 AND created_at = $3::timestamptz AND status_code IS NULL`,
    [owner.principal, owner.key, owner.claimedAt],
  );
}

/**
 * Deletes keys older than the retention, at most `limit` per call, so that a large backlog (the
 * first pass after an upgrade) is worked off over several reconciler passes instead of in one long
 * statement. Claiming treats an expired key as new anyway; this only keeps the table bounded.
 *
 * @returns how many keys it deleted
 */
export async function deleteExpiredIdempotencyKeys(
  db: Queryable,
  retentionMs: number = IDEMPOTENCY_RETENTION_MS,
  limit = 10_000,
): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM idempotency_keys WHERE (principal, key) IN (
       SELECT principal, key FROM idempotency_keys
        WHERE created_at < now() - $1::float8 * interval '1 millisecond'
        LIMIT $2)`,
    [retentionMs, limit],
  );
  return rowCount ?? 0;
}
