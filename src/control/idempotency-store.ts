import { jsonbText } from "../engine/jsonb-text.js";
import type { Queryable } from "./queryable.js";

export interface IdempotencyRequest {
  /** Keys are scoped per API key, so two clients cannot collide or read each other's responses. */
  readonly principal: string;
  readonly key: string;
  readonly method: string;
  readonly path: string;
  /** sha256 of method, path and body. */
  readonly requestHash: string;
}

export interface StoredResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
}

export type IdempotencyClaim =
  | { readonly kind: "new" }
  | { readonly kind: "replay"; readonly response: StoredResponse }
  | { readonly kind: "mismatch" }
  | { readonly kind: "in-progress" };

/**
 * Claims a key for a request. The INSERT ... ON CONFLICT makes the first request the owner
 * atomically; later ones see its stored response, a different body (mismatch), or that it is
 * still being handled.
 */
export async function claimIdempotencyKey(
  db: Queryable,
  request: IdempotencyRequest,
): Promise<IdempotencyClaim> {
  const inserted = await db.query(
    `INSERT INTO idempotency_keys (principal, key, method, path, request_hash)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    [request.principal, request.key, request.method, request.path, request.requestHash],
  );
  if (inserted.rowCount === 1) return { kind: "new" };
  const { rows } = await db.query<{
    request_hash: string;
    status_code: number | null;
    response_headers: Record<string, string> | null;
    response_body: unknown;
  }>(
    "SELECT request_hash, status_code, response_headers, response_body FROM idempotency_keys WHERE principal = $1 AND key = $2",
    [request.principal, request.key],
  );
  const row = rows[0];
  if (row === undefined) return claimIdempotencyKey(db, request); // expired between the two statements
  if (row.request_hash !== request.requestHash) return { kind: "mismatch" };
  if (row.status_code === null) return { kind: "in-progress" };
  return {
    kind: "replay",
    response: {
      statusCode: row.status_code,
      headers: row.response_headers ?? {},
      body: row.response_body,
    },
  };
}

export async function storeIdempotentResponse(
  db: Queryable,
  principal: string,
  key: string,
  response: StoredResponse,
): Promise<void> {
  await db.query(
    `UPDATE idempotency_keys SET status_code = $3, response_headers = $4, response_body = $5::jsonb
      WHERE principal = $1 AND key = $2`,
    [
      principal,
      key,
      response.statusCode,
      // A refusal may echo the request's text, which may hold what jsonb refuses (NUL).
      jsonbText(response.headers),
      jsonbText(response.body ?? null),
    ],
  );
}

/** Forgets a claim whose request failed on our side (5xx), so the client can retry with the key. */
export async function releaseIdempotencyKey(
  db: Queryable,
  principal: string,
  key: string,
): Promise<void> {
  await db.query(
    "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND status_code IS NULL",
    [principal, key],
  );
}
