import type pg from "pg";

/** A pool or a client inside a transaction: stores work with either. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

export const UNIQUE_VIOLATION = "23505";
export const FOREIGN_KEY_VIOLATION = "23503";
