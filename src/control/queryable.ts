import type pg from "pg";

/** A pool or a client inside a transaction: stores work with either. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

export const UNIQUE_VIOLATION = "23505";
export const FOREIGN_KEY_VIOLATION = "23503";

/** The constraint a pg error names, if any. */
export function constraintOf(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "constraint" in error) {
    const value = error.constraint;
    return typeof value === "string" ? value : undefined;
  }
  return undefined;
}
