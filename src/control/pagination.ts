import { FleetwayError, ErrorCode } from "../engine/errors.js";

/** A page of results and the cursor of the next one (null on the last page). */
export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

/**
 * Cursors are opaque to clients: base64url of the last row's sort key. Keyset pagination keeps
 * pages stable while rows are inserted, unlike OFFSET.
 */
export function encodeCursor(key: string | number): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

export function decodeCursor(cursor: string | undefined): string | number | null {
  if (cursor === undefined || cursor === "") return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (typeof value === "string" || typeof value === "number") return value;
  } catch {
    // fall through
  }
  throw new FleetwayError(ErrorCode.INVALID_CURSOR, "The cursor is not one this API returned");
}

/** Takes `limit + 1` rows and turns the extra one into the next cursor. */
export function toPage<T>(rows: T[], limit: number, keyOf: (row: T) => string | number): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}
