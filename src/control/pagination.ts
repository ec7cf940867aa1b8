import { FleetwayError, ErrorCode } from "../engine/errors.js";

/** A page of results and the cursor of the next one (null on the last page). */
export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

/** The sort key of a page's last row, as the cursor carries it. */
export type CursorKey = string | number | readonly [string, string];

/**
 * Accepts the one key shape a list issues and returns it typed, or undefined for anything else.
 * A key reaches SQL as a typed parameter, so a shape the list did not issue would be a PostgreSQL
 * error (a 500) instead of the client's mistake (400 INVALID_CURSOR).
 */
export type CursorKeyParser<K> = (value: unknown) => K | undefined;

/**
 * Cursors are opaque to clients: base64url of the last row's sort key. Keyset pagination keeps
 * pages stable while rows are inserted, unlike OFFSET.
 */
export function encodeCursor(key: CursorKey): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/** The key a cursor carries, null without one; INVALID_CURSOR when `parse` refuses it. */
export function decodeCursor<K>(cursor: string | undefined, parse: CursorKeyParser<K>): K | null {
  if (cursor === undefined || cursor === "") return null;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    value = undefined;
  }
  const key = parse(value);
  if (key === undefined) {
    throw new FleetwayError(ErrorCode.INVALID_CURSOR, "The cursor is not one this API returned");
  }
  return key;
}

/** Keys of lists ordered by a bigint sequence or id: a non-negative safe integer. */
export const seqKey: CursorKeyParser<number> = (value) =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;

/** Keys of lists ordered by a text id: any string PostgreSQL's text can hold (no NUL). */
export const textKey: CursorKeyParser<string> = (value) =>
  typeof value === "string" && !value.includes("\u0000") ? value : undefined;

/** Takes `limit + 1` rows and turns the extra one into the next cursor. */
export function toPage<T>(rows: T[], limit: number, keyOf: (row: T) => CursorKey): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > limit && last !== undefined ? encodeCursor(keyOf(last)) : null,
  };
}
