import { createHash } from "node:crypto";
import type pg from "pg";

/**
 * Named prepared statements for the control database: PostgreSQL parses and plans each statement
 * once per connection instead of on every call. The control plane runs a few dozen statements,
 * over and over (a job's GET, its creation, a worker's claim and progress); measured on the
 * benchmark machine, this halved PostgreSQL's CPU per request (bench:api, BENCHMARKS.md).
 *
 * Every parameterised `query(text, values)` on the pool's connections is sent as a named
 * statement, except:
 * - statements that select `*` (`SELECT *`, `RETURNING *`, `t.*`; `count(*)` is fine): a cached
 *   plan must not change its result type, so adding a column to the table (a newer Fleetway's
 *   control migration, during a rolling deploy) would break older processes' prepared `*`
 *   statements until they restart. Hot paths list their columns instead;
 * - new statements once {@link MAX_NAMED_STATEMENTS} distinct texts were named (bounds the memory
 *   a connection keeps for them, should a caller ever build texts dynamically).
 *
 * Named statements need a connection that keeps session state: PostgreSQL directly, or a pooler
 * in session mode (PgBouncer in transaction mode needs 1.21+ with `max_prepared_statements`).
 * `FLEETWAY_CONTROL_PREPARED_STATEMENTS=false` turns them off.
 */
export function usePreparedStatements(pool: pg.Pool): void {
  pool.on("connect", (client) => {
    const send = client.query.bind(client) as QueryFunction;
    (client as unknown as { query: QueryFunction }).query = (config, values, callback) => {
      const name =
        typeof config === "string" && Array.isArray(values) ? statementName(config) : null;
      return name === null
        ? send(config, values, callback)
        : send({ name, text: config as string, values: values as unknown[] }, callback);
    };
  });
}

type QueryFunction = (config: unknown, values?: unknown, callback?: unknown) => unknown;

/** Distinct statement texts named per process; later new ones run unnamed. */
export const MAX_NAMED_STATEMENTS = 500;

const names = new Map<string, string | null>();

/** `*` as a column list: anywhere but in `count(*)`. */
const SELECTS_STAR = /(?<!count\()\*/i;

/** The statement's name (from a digest of its text), or null when it should not be prepared. */
export function statementName(text: string): string | null {
  const known = names.get(text);
  if (known !== undefined) return known;
  if (names.size >= MAX_NAMED_STATEMENTS) return null;
  const name = SELECTS_STAR.test(text)
    ? null
    : `fleetway_${createHash("sha256").update(text).digest("hex").slice(0, 40)}`;
  names.set(text, name);
  return name;
}
