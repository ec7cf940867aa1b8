import type pg from "pg";

/** A pool or a client inside a transaction: stores work with either. */
export type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

/** A pool (or a stand-in for one): runs statements, and lends a client for a transaction. */
export type TransactionalQueryable = Pick<pg.Pool, "query" | "connect">;

export const UNIQUE_VIOLATION = "23505";
