import { createHash } from "node:crypto";
import type pg from "pg";
import { ErrorCode, FleetwayError } from "../errors.js";
import { backoffDelay, type BackoffPolicy } from "./backoff.js";
import { cancelledError } from "./cancellation.js";
import type { LockHolder } from "./run-options.js";

/**
 * The advisory lock key of one version table: the first 8 bytes of
 * sha256("<database>.<schema>.<table>") as a signed bigint. Keyed on the qualified version table
 * so two schemas of one database (schema-per-tenant) migrate in parallel, while every runner of
 * the same tenant, whatever process it is in, contends for the same lock.
 */
export function advisoryLockKey(database: string, schema: string, versionTable: string): bigint {
  const digest = createHash("sha256").update(`${database}.${schema}.${versionTable}`).digest();
  return digest.readBigInt64BE(0);
}

export interface AcquireLockOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random: () => number;
  /** Called once, when the first attempt finds the lock taken. */
  readonly onWaiting?: (holder: LockHolder | null) => void;
  /**
   * When the wait began (Date.now()), for a caller that tried once already: that try's time
   * counts in the timeout and in the wait returned. Default: now.
   */
  readonly startedAt?: number;
}

const POLL: BackoffPolicy = { baseMs: 50, factor: 1.6, maxMs: 2_000 };

/**
 * Takes the session-level lock by polling pg_try_advisory_lock. Never pg_advisory_lock: a session
 * blocked in it keeps a snapshot open, and a CREATE INDEX CONCURRENTLY run by the holder waits for
 * every older snapshot to go away, so holder and waiter would deadlock without PostgreSQL noticing.
 * Each poll is its own short implicit transaction.
 *
 * @returns how long it waited, ms
 * @throws FleetwayError LOCK_BUSY (naming the holder) after `timeoutMs`; MIGRATION_CANCELLED on abort
 */
export async function acquireAdvisoryLock(
  client: pg.ClientBase,
  key: bigint,
  options: AcquireLockOptions,
): Promise<number> {
  const started = options.startedAt ?? Date.now();
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted === true)
      throw cancelledError("while waiting for the migration lock");
    const { rows } = await client.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock($1::bigint) AS locked",
      [key.toString()],
    );
    if (rows[0]?.locked === true) return Date.now() - started;
    if (attempt === 1) options.onWaiting?.(await findLockHolder(client, key));
    const elapsed = Date.now() - started;
    if (elapsed >= options.timeoutMs) {
      const holder = await findLockHolder(client, key);
      throw new FleetwayError(
        ErrorCode.LOCK_BUSY,
        `The migration lock is held by ${describeHolder(holder)}; gave up after ${elapsed} ms`,
        { holder, waitedMs: elapsed, lockKey: key.toString() },
      );
    }
    const delay = Math.min(
      backoffDelay(POLL, attempt, options.random),
      options.timeoutMs - elapsed,
    );
    try {
      await options.sleep(Math.max(1, delay), options.signal);
    } catch {
      throw cancelledError("while waiting for the migration lock");
    }
  }
}

/**
 * The session holding the lock. A bigint advisory key appears in pg_locks split in two: classid
 * holds the high 32 bits, objid the low 32 bits, and objsubid is 1 (2 would be the int4,int4 form).
 */
export async function findLockHolder(
  client: pg.ClientBase,
  key: bigint,
): Promise<LockHolder | null> {
  const unsigned = BigInt.asUintN(64, key);
  const high = (unsigned >> 32n).toString();
  const low = (unsigned & 0xffffffffn).toString();
  const { rows } = await client.query<{
    pid: number;
    application_name: string | null;
    client_addr: string | null;
    backend_start: Date | null;
    query_start: Date | null;
    state: string | null;
  }>(
    `SELECT l.pid, a.application_name, a.client_addr::text AS client_addr,
            a.backend_start, a.query_start, a.state
       FROM pg_locks l
       LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid AND l.objsubid = 1
      LIMIT 1`,
    [high, low],
  );
  const row = rows[0];
  if (row === undefined) return null;
  return {
    pid: row.pid,
    applicationName: row.application_name,
    clientAddr: row.client_addr,
    backendStart: row.backend_start?.toISOString() ?? null,
    queryStart: row.query_start?.toISOString() ?? null,
    state: row.state,
  };
}

export function describeHolder(holder: LockHolder | null): string {
  if (holder === null) return "another session (it released the lock meanwhile or is not visible)";
  const app =
    holder.applicationName === null || holder.applicationName === ""
      ? "unknown application"
      : `'${holder.applicationName}'`;
  const since = holder.backendStart === null ? "" : `, connected since ${holder.backendStart}`;
  return `pid ${holder.pid} (${app}${since})`;
}
