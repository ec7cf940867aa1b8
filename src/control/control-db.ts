import { fileURLToPath } from "node:url";
import pg from "pg";
import { loadMigrations } from "../engine/load-migrations.js";
import { migrate } from "../engine/migrate.js";
import { redactConnectionString } from "../engine/redact-connection-string.js";
import { connect, pgConnectionConfig, sqlStateOf } from "../engine/runner/connect.js";
import type { RunResult } from "../engine/runner/run-migration.js";
import { usePreparedStatements } from "./prepared-statements.js";

/**
 * The control plane's own revisions. Resolved from the package root so the same path works from
 * src/ (tsx) and dist/ (compiled): both are two levels below it.
 */
export const CONTROL_MIGRATIONS_DIR = fileURLToPath(
  new URL("../../src/control/migrations/", import.meta.url),
);

/** Version and history tables of the control database, apart from any tenant's. */
export const CONTROL_VERSION_TABLE = "fleetway_control_version";
export const CONTROL_HISTORY_TABLE = "fleetway_control_history";

const INVALID_CATALOG_NAME = "3D000";
const DUPLICATE_DATABASE = "42P04";
/** Two concurrent CREATE DATABASE of one name: the loser hits pg_database's unique index. */
const UNIQUE_VIOLATION = "23505";

/**
 * Creates the control database when it does not exist, through the server's `postgres`
 * database. Two instances starting at once may both try: the loser's "already exists" is fine.
 */
export async function ensureControlDatabase(url: string): Promise<void> {
  try {
    const probe = await connect(url, "fleetway-control");
    await probe.end();
    return;
  } catch (error) {
    if (sqlStateOf((error as { cause?: unknown }).cause) !== INVALID_CATALOG_NAME) throw error;
  }
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ""));
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = await connect(admin.toString(), "fleetway-control");
  try {
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } catch (error) {
    const state = sqlStateOf(error);
    if (state !== DUPLICATE_DATABASE && state !== UNIQUE_VIOLATION) {
      throw new Error(
        `Could not create the control database ${redactConnectionString(url)}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  } finally {
    await client.end();
  }
}

/**
 * Brings the control schema to head with Fleetway's own engine, under its advisory lock, so
 * instances starting together apply each revision once and all come up.
 */
export async function migrateControlDatabase(url: string): Promise<RunResult> {
  const migrations = await loadMigrations(CONTROL_MIGRATIONS_DIR);
  return migrate({
    migrations,
    operation: "upgrade",
    target: "heads",
    connectionString: url,
    versionTable: CONTROL_VERSION_TABLE,
    historyTable: CONTROL_HISTORY_TABLE,
    applicationName: "fleetway-control",
    appliedBy: "fleetway-startup",
    advisoryLockTimeoutMs: 120_000,
  });
}

/**
 * The control database's pool. Its statements are prepared once per connection unless
 * `preparedStatements` is false (for a pooler that cannot keep them: see prepared-statements.ts).
 */
export function createControlPool(
  url: string,
  max = 10,
  options: { preparedStatements?: boolean } = {},
): pg.Pool {
  const pool = new pg.Pool({ ...pgConnectionConfig(url, "fleetway"), max });
  // An idle client that loses its connection emits on the pool; the next checkout reconnects.
  pool.on("error", () => undefined);
  // A client lent out (a transaction) that loses its connection emits on itself, and with no
  // listener that would end the process, with every job in flight on it: the failing query
  // reports the loss instead, and the pool discards the client when it comes back.
  pool.on("connect", (client) => {
    client.on("error", () => undefined);
  });
  if (options.preparedStatements ?? true) usePreparedStatements(pool);
  return pool;
}

/**
 * Runs `work` in one transaction on a pooled client. `repeatable read` gives every statement of
 * `work` the transaction's first snapshot instead of a new one each (read committed, the default).
 */
export async function inTransaction<T>(
  pool: Pick<pg.Pool, "connect">,
  work: (client: pg.PoolClient) => Promise<T>,
  options: { isolation?: "read committed" | "repeatable read" } = {},
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(
      options.isolation === "repeatable read" ? "BEGIN ISOLATION LEVEL REPEATABLE READ" : "BEGIN",
    );
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** A repeatable-read transaction found a row it depends on changed or deleted since its snapshot. */
const SERIALIZATION_FAILURE = "40001";

/**
 * {@link inTransaction} at `repeatable read`, run again from the start on a new snapshot when
 * PostgreSQL reports a serialization failure, up to `attempts` times in all (then the failure is
 * thrown). `work` must have no effect outside the transaction.
 */
export async function inSnapshotTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  attempts = 3,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await inTransaction(pool, work, { isolation: "repeatable read" });
    } catch (error) {
      if (attempt >= attempts || sqlStateOf(error) !== SERIALIZATION_FAILURE) throw error;
    }
  }
}
