import { refuseNonTransactionalInAllMode } from "../plan/refuse-non-transactional.js";
import { acquireAdvisoryLock, advisoryLockKey } from "./advisory-lock.js";
import { abortableSleep } from "./backoff.js";
import { cancellationByDrop, cancelledError, cancelOnAbort } from "./cancellation.js";
import { sqlStateOf } from "./connect.js";
import { dedicatedConnections } from "./tenant-connections.js";
import { appliedChecksums, createHistoryTableSql } from "./history-table.js";
import {
  RUN_DEFAULTS,
  type RunMigrationOptions,
  type RunProgressEvent,
  type RunResult,
} from "./run-options.js";
import type { RunSession } from "./run-session.js";
import { runSteps } from "./run-steps.js";
import { qualifiedName, quoteIdent } from "./sql-identifiers.js";
import { LOCK_NOT_AVAILABLE } from "./step-error.js";
import { checksumMismatchError, findChecksumMismatches } from "./verify-checksums.js";
import {
  createVersionTableSql,
  selectVersionRows,
  selectVersionRowsSql,
  type TableRef,
} from "./version-table.js";
import type pg from "pg";

export type {
  LockHolder,
  RunMigrationOptions,
  RunProgressEvent,
  RunResult,
  StepOutcome,
  StepRetryCause,
  TenantTables,
  TransactionMode,
} from "./run-options.js";
export type { HistoryRow } from "./history-table.js";
export { findChecksumMismatches } from "./verify-checksums.js";
export {
  readCurrentHeads,
  readHeadsAndAppliedChecksums,
  readHistory,
  type TenantReadOptions,
} from "./tenant-read.js";

/**
 * Runs one migration on one tenant database:
 * connect → take the tenant's advisory lock → create schema and tables if missing → read the
 * heads → plan from them → verify checksums → run the steps → release the lock.
 * The plan is made under the lock from what the database holds at that moment, so two runners
 * racing to the same target apply everything once: the second finds nothing left to do.
 */
export async function runMigration(options: RunMigrationOptions): Promise<RunResult> {
  const signal = options.signal ?? new AbortController().signal;
  const schema = options.schema ?? RUN_DEFAULTS.schema;
  const emit = safeEmitter(options.onProgress);
  if (signal.aborted) throw cancelledError("before it started");
  const lease = await (options.connections ?? dedicatedConnections).acquire(
    options.connectionString,
    options.applicationName ?? RUN_DEFAULTS.applicationName,
  );
  const { client } = lease;
  let reusable = false;
  try {
    const canceller = cancelOnAbort(signal, options.connectionString, lease);
    try {
      const session = resolveSession(options, client, schema, signal, emit);
      const key = advisoryLockKey(lease.database, schema, session.versionTable.table);
      // An abort while the connection was being acquired came before the canceller listened.
      if (session.signal.aborted) throw cancelledError("while waiting for the migration lock");
      const firstStartedAt = Date.now();
      const first = await tryLockReadingHeads(client, session, key);
      const waitedMs = first.locked
        ? 0
        : await acquireAdvisoryLock(client, key, {
            timeoutMs: options.advisoryLockTimeoutMs ?? RUN_DEFAULTS.advisoryLockTimeoutMs,
            // The first attempt may have waited up to FIRST_READ_LOCK_TIMEOUT_MS on a table.
            startedAt: firstStartedAt,
            signal,
            sleep: session.sleep,
            random: session.random,
            onWaiting: (holder) => {
              emit({ kind: "lock-waiting", holder });
            },
          });
      emit({ kind: "lock-acquired", waitedMs });
      const result = await runLocked(session, options, first);
      // A cancel that fired may still be on its way to this backend: never lend it out again.
      reusable = !signal.aborted;
      return result;
    } finally {
      canceller.dispose();
    }
  } catch (error) {
    // Steps report a dropped connection themselves (run-steps.ts); this is for the rest of the
    // run (the lock, the tables, `all` mode's COMMIT).
    throw cancellationByDrop(signal, error, "during the run") ?? error;
  } finally {
    // Releases the advisory lock with the session (reset or closed).
    await lease.release(reusable);
  }
}

async function runLocked(
  session: RunSession,
  options: RunMigrationOptions,
  first: FirstLockAttempt,
): Promise<RunResult> {
  const { client } = session;
  // Missing tables are created, or found and read, under the lock by ensureTables; rows read
  // before the lock was granted are read again.
  const known =
    first.locked || first.heads === null
      ? first.heads
      : (await readHeadsOfExistingTables(client, session)).heads;
  const fromHeads = known ?? (await readHeadsCreatingTables(client, session));
  const plan = options.plan(fromHeads);
  session.emit({ kind: "planned", plan });
  // A new tenant has nothing applied, hence no checksums to compare; a stamp runs nothing (and
  // with --purge its heads may name revisions that are gone).
  const applied =
    options.operation !== "stamp" && plan.steps.length > 0
      ? options.appliedRevisions(fromHeads)
      : [];
  if (applied.length > 0) {
    const mismatches = findChecksumMismatches(
      applied,
      await appliedChecksums(client, session.historyTable),
      options.scripts,
    );
    if (mismatches.length > 0) {
      if (options.allowChecksumMismatch !== true) throw checksumMismatchError(mismatches);
      for (const m of mismatches) {
        session.emit({
          kind: "log",
          revision: m.revision,
          message: `checksum mismatch allowed: ${m.path} changed since it was applied`,
        });
      }
    }
  }
  if (session.transactionMode === "all")
    refuseNonTransactionalInAllMode(plan.steps, options.scripts);
  const steps = await runSteps(session, plan, options.scripts);
  return { plan, fromHeads, toHeads: plan.toHeads, steps };
}

/**
 * What the first attempt at the lock found. `locked` false: not granted, or not known (the query
 * failed, which discards its results); the lock is then polled for. `heads`: the version table's
 * rows read with the attempt, or null when a table is missing or the query failed (see
 * readHeadsOfExistingTables); rows read without the lock are read again under it.
 */
interface FirstLockAttempt {
  readonly locked: boolean;
  readonly heads: string[] | null;
}

/**
 * How long the first attempt's read may wait for a table lock. A run holding the tenant's lock
 * whose revision locks the version table itself (an ALTER TABLE, as when an adopted
 * `alembic_version` is widened) would otherwise keep it waiting past the run's advisory-lock
 * timeout: the lock is polled for instead, like any other busy tenant. (When another session
 * locks the table, e.g. VACUUM FULL, the poll gets the lock at once and the read waits under it,
 * as any read would.) When the lock was not granted with the read, the read's time counts as
 * waiting for it: in the advisory-lock timeout and in `lock-acquired`'s waitedMs.
 */
export const FIRST_READ_LOCK_TIMEOUT_MS = 100;

/**
 * The first attempt at the tenant's lock and, in the same round trip, the heads (see
 * readHeadsOfExistingTables): a run that finds nothing to do is then one round trip to the
 * tenant besides its connection's own (identity and release). The reads must see everything the
 * previous holder committed before it unlocked, so each statement needs its own snapshot, taken
 * after the lock was granted: READ COMMITTED for this implicit transaction, whatever isolation the
 * tenant's database defaults to. Read while another run holds the lock, the rows are discarded.
 *
 * When the query fails on a missing table (a new tenant) or on its lock timeout, whether the lock
 * was granted is not known; the poll that follows then takes it again (a session's advisory locks
 * stack, and every release path releases all of them: DISCARD ALL, pg_advisory_unlock_all, or
 * closing the session).
 */
async function tryLockReadingHeads(
  client: pg.ClientBase,
  session: RunSession,
  key: bigint,
): Promise<FirstLockAttempt> {
  let read: Awaited<ReturnType<typeof readHeadsOfExistingTables>>;
  try {
    read = await readHeadsOfExistingTables(client, session, [
      "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
      `SET LOCAL lock_timeout = '${FIRST_READ_LOCK_TIMEOUT_MS}ms'`,
      // Last, so that its result is the prefix's last.
      `SELECT pg_try_advisory_lock(${key.toString()}::bigint) AS locked`,
    ]);
  } catch (error) {
    if (sqlStateOf(error) === LOCK_NOT_AVAILABLE) return { locked: false, heads: null };
    throw error;
  }
  const lock = read.prefix.at(-1) as pg.QueryResult<{ locked: boolean }> | undefined;
  return { locked: lock?.rows[0]?.locked === true, heads: read.heads };
}

/**
 * The common case, a tenant migrated before, in one round trip: puts the tenant's schema first on
 * the search_path (revisions use unqualified names), reads the version table and checks that the
 * history table exists. A simple query of several statements runs as one implicit transaction, so
 * when the version table (or the schema) is missing, none of its settings stay, not even the
 * search_path (an advisory lock it took does: session locks ignore transactions); ensureTables
 * then does it all again. `prefix` statements run first, in the same query, and their results are
 * returned.
 *
 * @returns `heads`: the version table's rows, sorted, or null when a table is missing (see
 *   ensureTables); `prefix` is empty when the query failed on a missing table (other failures
 *   are thrown)
 */
async function readHeadsOfExistingTables(
  client: pg.ClientBase,
  session: RunSession,
  prefix: readonly string[] = [],
): Promise<{ prefix: pg.QueryResult[]; heads: string[] | null }> {
  const { schema, versionTable, historyTable } = session;
  try {
    // A simple query takes no parameters: the history table's name goes in as a literal.
    const history = client.escapeLiteral(qualifiedName(schema, historyTable.table));
    const statements = [
      ...prefix,
      `SET search_path TO ${quoteIdent(schema)}, public`,
      selectVersionRowsSql(versionTable),
      `SELECT to_regclass(${history}) IS NOT NULL AS has_history`,
    ];
    const results = (await client.query(statements.join(";\n"))) as unknown as pg.QueryResult[];
    const [, versions, check] = results.slice(prefix.length) as [
      pg.QueryResult,
      pg.QueryResult<{ version_num: string }>,
      pg.QueryResult<{ has_history: boolean }>,
    ];
    return {
      prefix: results.slice(0, prefix.length),
      heads: check.rows[0]?.has_history === true ? versions.rows.map((r) => r.version_num) : null,
    };
  } catch (error) {
    if (sqlStateOf(error) === UNDEFINED_TABLE) return { prefix: [], heads: null };
    throw error;
  }
}

/** The rest of the time: what is missing is created first (a version table created now is empty). */
async function readHeadsCreatingTables(
  client: pg.ClientBase,
  session: RunSession,
): Promise<string[]> {
  const { schema, versionTable, historyTable } = session;
  const created = await ensureTables(client, schema, versionTable, historyTable);
  return created ? [] : selectVersionRows(client, versionTable);
}

/** What PostgreSQL reports for a table, or a table in a schema, that does not exist. */
const UNDEFINED_TABLE = "42P01";

/**
 * Puts the tenant's schema first on the search_path (revisions use unqualified names) and creates
 * the schema and both tables when missing, in one round trip when they exist. Existence is checked
 * first so a role without CREATE privilege can still migrate a tenant whose tables exist.
 *
 * @returns whether the version table was created (it is then empty)
 */
async function ensureTables(
  client: pg.ClientBase,
  schema: string,
  versionTable: TableRef,
  historyTable: TableRef,
): Promise<boolean> {
  const { rows } = await client.query<{
    has_schema: boolean;
    has_version: boolean;
    has_history: boolean;
  }>(
    `SELECT set_config('search_path', $4, false),
            EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1) AS has_schema,
            to_regclass($2) IS NOT NULL AS has_version,
            to_regclass($3) IS NOT NULL AS has_history`,
    [
      schema,
      `${quoteIdent(schema)}.${quoteIdent(versionTable.table)}`,
      `${quoteIdent(schema)}.${quoteIdent(historyTable.table)}`,
      `${quoteIdent(schema)}, public`,
    ],
  );
  const state = rows[0];
  if (state?.has_schema === true && state.has_version && state.has_history) return false;
  // One simple query, one round trip: a multi-statement query runs as one transaction.
  const statements = [
    ...(state?.has_schema === true ? [] : [`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`]),
    createVersionTableSql(versionTable),
    createHistoryTableSql(historyTable),
  ];
  await client.query(statements.join(";\n"));
  return state?.has_version !== true;
}

function resolveSession(
  options: RunMigrationOptions,
  client: pg.ClientBase,
  schema: string,
  signal: AbortSignal,
  emit: (event: RunProgressEvent) => void,
): RunSession {
  return {
    client,
    schema,
    versionTable: { schema, table: options.versionTable ?? RUN_DEFAULTS.versionTable },
    historyTable: { schema, table: options.historyTable ?? RUN_DEFAULTS.historyTable },
    operation: options.operation,
    transactionMode: options.transactionMode ?? RUN_DEFAULTS.transactionMode,
    lockTimeoutMs: options.lockTimeoutMs ?? RUN_DEFAULTS.lockTimeoutMs,
    statementTimeoutMs: options.statementTimeoutMs ?? RUN_DEFAULTS.statementTimeoutMs,
    lockTimeoutRetries: options.lockTimeoutRetries ?? RUN_DEFAULTS.lockTimeoutRetries,
    jobId: options.jobId ?? null,
    appliedBy: options.appliedBy ?? null,
    signal,
    emit,
    sleep: options.sleep ?? abortableSleep,
    random: options.random ?? Math.random,
  };
}

/** A progress listener that throws must not break the migration it observes. */
function safeEmitter(
  listener: ((event: RunProgressEvent) => void) | undefined,
): (event: RunProgressEvent) => void {
  return (event) => {
    try {
      listener?.(event);
    } catch {
      // ignored on purpose
    }
  };
}
