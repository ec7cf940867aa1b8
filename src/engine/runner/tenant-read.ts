import type pg from "pg";
import { ErrorCode, FleetwayError } from "../errors.js";
import { withDeadline } from "../with-deadline.js";
import { redactConnectionString } from "../redact-connection-string.js";
import { connect, sqlStateOf } from "./connect.js";
import { appliedChecksumsIfAny, readHistoryRows, type HistoryRow } from "./history-table.js";
import { RUN_DEFAULTS, type TenantTables } from "./run-options.js";
import { qualifiedName } from "./sql-identifiers.js";
import { LOCK_NOT_AVAILABLE, QUERY_CANCELED } from "./step-error.js";
import { beginStepSql } from "./run-session.js";
import { readVersionRows, type TableRef } from "./version-table.js";

/** How long a read of a tenant's state may take unless told otherwise, ms. */
const DEFAULT_READ_TIMEOUT_MS = 5_000;

/** A read of one tenant's version or history table, without the migration lock. */
export interface TenantReadOptions extends TenantTables {
  /**
   * `lock_timeout` and `statement_timeout` of the read's statements, and how long the read may
   * take once connected; 0 = no limit. Default {@link DEFAULT_READ_TIMEOUT_MS}. (Connecting has
   * its own limit: the URL's `connect_timeout`, else 10 s.)
   */
  readonly readTimeoutMs?: number;
}

/**
 * How long past its timeout a read may go without an answer before the connection is closed: the
 * server's own timeouts come first, as they free the backend (a read left queued behind an
 * ACCESS EXCLUSIVE lock would make every later query on the table queue behind it too) and say
 * what timed out; this catches a server that stopped answering altogether.
 */
const NO_ANSWER_GRACE_MS = 1_000;

/** The version table's rows of one tenant, without taking the lock; [] before the first run. */
export async function readCurrentHeads(tables: TenantReadOptions): Promise<string[]> {
  const version = versionTableOf(tables);
  return withTenantRead(tables, [version], (client) => readVersionRows(client, version));
}

/** The tenant's history, newest first; [] before the first run. */
export async function readHistory(
  tables: TenantReadOptions,
  page: { limit?: number; beforeId?: number } = {},
): Promise<HistoryRow[]> {
  const history = historyTableOf(tables);
  return withTenantRead(tables, [history], (client) => readHistoryRows(client, history, page));
}

/**
 * The heads and, from the history, each revision's checksum when it was last applied (what the
 * status route judges), on one connection, in one transaction and within one time limit: one
 * connect instead of two, both of the same snapshot, and one row per revision read rather than
 * the whole history.
 */
export async function readHeadsAndAppliedChecksums(
  tables: TenantReadOptions,
): Promise<{ heads: string[]; appliedChecksums: Map<string, string> }> {
  const version = versionTableOf(tables);
  const history = historyTableOf(tables);
  return withTenantRead(tables, [version, history], async (client) => ({
    heads: await readVersionRows(client, version),
    appliedChecksums: await appliedChecksumsIfAny(client, history),
  }));
}

const versionTableOf = (tables: TenantReadOptions): ReadTable => ({
  kind: "version",
  schema: tables.schema ?? RUN_DEFAULTS.schema,
  table: tables.versionTable ?? RUN_DEFAULTS.versionTable,
});

const historyTableOf = (tables: TenantReadOptions): ReadTable => ({
  kind: "history",
  schema: tables.schema ?? RUN_DEFAULTS.schema,
  table: tables.historyTable ?? RUN_DEFAULTS.historyTable,
});

/**
 * Runs `read` on a new connection to the tenant database, closed afterwards. Its statements run in
 * one transaction whose `SET LOCAL` timeouts end with it (behind a transaction pooler, a session
 * setting would outlive this connection on the server's). A table locked by another session, or a
 * server that stops answering, ends the read with TENANT_TIMEOUT instead of holding its caller.
 *
 * @param tables the tables read, for the error
 */
async function withTenantRead<T>(
  options: TenantReadOptions,
  tables: readonly ReadTable[],
  read: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const timeoutMs = Math.max(0, Math.trunc(options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS));
  const client = await connect(options.connectionString, "fleetway-read");
  try {
    if (timeoutMs === 0) return await read(client);
    let expired = false;
    const bounded = (async () => {
      await client.query(beginStepSql({ lockTimeoutMs: timeoutMs, statementTimeoutMs: timeoutMs }));
      const result = await read(client);
      await client.query("COMMIT");
      return result;
    })();
    try {
      // Lost the race, the read fails once the connection is closed below; nobody waits for it.
      return await withDeadline(bounded, timeoutMs + NO_ANSWER_GRACE_MS, () => {
        expired = true;
        throw new Error("no answer");
      });
    } catch (error) {
      const state = sqlStateOf(error);
      // 55P03: lock_timeout; 57014: statement_timeout (nobody else cancels a read's statement).
      // Without a SQLSTATE: the deadline, or else a broken connection (reported as before).
      const timedOut = state === null ? expired : TIMEOUTS.includes(state);
      if (error instanceof FleetwayError || !timedOut) throw error;
      throw readTimeoutError(options.connectionString, tables, timeoutMs, error);
    }
  } finally {
    // With a query still waiting (a server that stopped answering), end() closes the socket at
    // once rather than waiting for a goodbye.
    await client.end().catch(() => undefined);
  }
}

/** Which of the tenant's tables a read is for. */
interface ReadTable extends TableRef {
  readonly kind: "version" | "history";
}

const TIMEOUTS: readonly string[] = [LOCK_NOT_AVAILABLE, QUERY_CANCELED];

/** TENANT_TIMEOUT naming the tables, the database (never the password) and the limit. */
function readTimeoutError(
  connectionString: string,
  tables: readonly ReadTable[],
  timeoutMs: number,
  cause: unknown,
): FleetwayError {
  const database = redactConnectionString(connectionString);
  const state = sqlStateOf(cause);
  // With a SQLSTATE the server itself gave up: a statement that long on these small tables means
  // it waited for a lock.
  const reason =
    state === null
      ? "the server did not answer"
      : `${cause instanceof Error ? cause.message : String(cause)}; another session may hold a lock on it, e.g. a migration altering it`;
  return new FleetwayError(
    ErrorCode.TENANT_TIMEOUT,
    `Reading the ${tables.map((t) => `${t.kind} table ${qualifiedName(t.schema, t.table)}`).join(" and the ")} of ${database} did not finish within ${timeoutMs} ms ` +
      `(FLEETWAY_TENANT_READ_TIMEOUT_MS): ${reason}`,
    {
      database,
      table: tables.map((t) => `${t.schema}.${t.table}`).join(", "),
      timeoutMs,
      sqlstate: state,
    },
    { cause },
  );
}
