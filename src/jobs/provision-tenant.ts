import type pg from "pg";
import { connect, sqlStateOf } from "../engine/runner/connect.js";
import { ErrorCode, FleetwayError, isFleetwayError } from "../engine/errors.js";
import { RUN_DEFAULTS } from "../engine/runner/run-options.js";
import { quoteIdent, quoteLiteral } from "../engine/runner/sql-identifiers.js";
import { LOCK_NOT_AVAILABLE } from "../engine/runner/step-error.js";
import type { Provisioned } from "../control/tenant-store.js";

const DUPLICATE_DATABASE = "42P04";
const DUPLICATE_SCHEMA = "42P06";
const UNIQUE_VIOLATION = "23505";

export function provisioningDisabled(): FleetwayError {
  return new FleetwayError(
    ErrorCode.PROVISIONING_DISABLED,
    "Provisioning needs FLEETWAY_PROVISION_ADMIN_URL: a connection allowed to create databases and schemas",
  );
}

/** The tenant's connection string for a database Fleetway creates: the admin URL, that database. */
export function provisionedDatabaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/**
 * The comment Fleetway puts on a database or schema it creates for a tenant. A name alone proves
 * nothing (it may be another tenant's database, or `public`): only what carries this tenant's mark
 * is accepted again (a retried sign-up) and only that is ever dropped.
 */
export function provisionMark(tenantId: string): string {
  return `fleetway:tenant:${tenantId}`;
}

/**
 * The limits of provisioning's CREATE and DROP. These queue behind other sessions' locks (a
 * transaction holding a lock on the database, on the template CREATE DATABASE copies, on a table
 * in the schema, or creating a schema of the same name), and without a bound the request waits
 * for as long as that session does.
 */
export interface ProvisionLimits {
  /**
   * Their `lock_timeout`, ms (FLEETWAY_LOCK_TIMEOUT_MS, as for job steps); 0 = none. Only lock
   * waits are bounded, not with a statement_timeout: copying the template and removing a large
   * database's files take as long as they take, and a DROP DATABASE cancelled halfway leaves an
   * invalid database behind.
   */
  readonly lockTimeoutMs: number;
}

/** Provisioning's limits: `lockTimeoutMs` when given, else the engine's default for steps. */
export function provisionLimits(lockTimeoutMs?: number): ProvisionLimits {
  return { lockTimeoutMs: lockTimeoutMs ?? RUN_DEFAULTS.lockTimeoutMs };
}

/**
 * Creates the tenant's database through the admin connection and marks it as the tenant's. An
 * existing one is accepted only with this tenant's mark: a retried sign-up (same Idempotency-Key,
 * or a client retrying after a timeout) must not fail on the database its first attempt created,
 * and nobody may claim, and later drop, a database Fleetway did not create for them.
 * @throws FleetwayError PROVISIONING_CONFLICT when it exists without this tenant's mark,
 *   PROVISIONING_TIMEOUT when another session's lock outlasts `limits.lockTimeoutMs`
 */
export async function createTenantDatabase(
  adminUrl: string,
  database: string,
  tenantId: string,
  limits: ProvisionLimits,
): Promise<void> {
  const target = { database };
  await withClient(adminUrl, async (client) => {
    // CREATE DATABASE refuses a transaction block: the limit is the session's, and this
    // connection is closed right after.
    await bounded(client, { action: "create", target, limits, local: false }, async () => {
      try {
        await client.query(`CREATE DATABASE ${quoteIdent(database)}`);
      } catch (error) {
        const state = sqlStateOf(error);
        if (state !== DUPLICATE_DATABASE && state !== UNIQUE_VIOLATION) throw error;
        await requireMark(client, target, tenantId, "claim");
        return;
      }
      // CREATE DATABASE cannot run in a transaction, so the mark follows at once. A crash in
      // between leaves an unmarked database, which a retry refuses (409) rather than claims: the
      // safe side, since an unmarked database is never dropped either.
      await client.query(
        `COMMENT ON DATABASE ${quoteIdent(database)} IS ${quoteLiteral(provisionMark(tenantId))}`,
      );
    });
  });
}

/**
 * Creates the tenant's schema in its database (with the tenant's own connection string), marked
 * as the tenant's in the same transaction, so a schema Fleetway created is never without its mark.
 * An existing schema is accepted only with this tenant's mark (see {@link createTenantDatabase}).
 * @throws FleetwayError PROVISIONING_CONFLICT when it exists without this tenant's mark,
 *   PROVISIONING_TIMEOUT when another session's lock outlasts `limits.lockTimeoutMs`
 */
export async function createTenantSchema(
  databaseUrl: string,
  schema: string,
  tenantId: string,
  limits: ProvisionLimits,
): Promise<void> {
  const target = { schema };
  await withClient(databaseUrl, async (client) => {
    try {
      await client.query("BEGIN");
      await bounded(client, { action: "create", target, limits, local: true }, async () => {
        await client.query(`CREATE SCHEMA ${quoteIdent(schema)}`);
        await client.query(
          `COMMENT ON SCHEMA ${quoteIdent(schema)} IS ${quoteLiteral(provisionMark(tenantId))}`,
        );
      });
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK");
      const state = sqlStateOf(error);
      if (state !== DUPLICATE_SCHEMA && state !== UNIQUE_VIOLATION) throw error;
      await requireMark(client, target, tenantId, "claim");
    }
  });
}

/** A CREATE or DROP run by {@link bounded}. */
export interface BoundedWork {
  readonly action: "create" | "drop";
  readonly target: Provisioned;
  readonly limits: ProvisionLimits;
  /**
   * The limit is set for the current transaction, else for the session. A schema's statements
   * run in a transaction on the tenant's own connection string, which may lead through a
   * transaction pooler, where a session setting would stay on the server connection for its
   * next client. CREATE and DROP DATABASE refuse a transaction block, so theirs is a session
   * setting, reset afterwards; through a transaction pooler the statement may run on another
   * server connection than the SET, so FLEETWAY_PROVISION_ADMIN_URL should be a direct connection.
   */
  readonly local: boolean;
}

/**
 * Runs `fn` under `work.limits`' lock_timeout; a lock wait that outlasts it (55P03) ends it with
 * PROVISIONING_TIMEOUT naming what was being created or dropped.
 */
export async function bounded<T>(
  client: pg.Client,
  work: BoundedWork,
  fn: () => Promise<T>,
): Promise<T> {
  const ms = Math.max(0, Math.trunc(work.limits.lockTimeoutMs));
  await client.query("SELECT set_config('lock_timeout', $1, $2)", [`${ms}ms`, work.local]);
  try {
    return await fn();
  } catch (error) {
    if (sqlStateOf(error) !== LOCK_NOT_AVAILABLE) throw error;
    throw provisioningTimedOut(work, ms, error);
  } finally {
    // A pooler may hand this server connection to its next client: leave it as it was.
    if (!work.local) await client.query("RESET lock_timeout").catch(() => undefined);
  }
}

/** PROVISIONING_TIMEOUT: what waited, for how long, and that another session holds the lock. */
function provisioningTimedOut(work: BoundedWork, ms: number, error: unknown): FleetwayError {
  const what =
    "database" in work.target
      ? `database '${work.target.database}'`
      : `schema '${work.target.schema}'`;
  const reason = error instanceof Error ? error.message : String(error);
  return new FleetwayError(
    ErrorCode.PROVISIONING_TIMEOUT,
    `Could not ${work.action} ${what} within ${ms} ms (FLEETWAY_LOCK_TIMEOUT_MS): another ` +
      `session holds a lock it needs (${reason}); ` +
      (work.action === "drop" ? "it was not dropped" : "try again once that session is done"),
    { ...work.target, action: work.action, lockTimeoutMs: ms, sqlstate: sqlStateOf(error) },
    { cause: error },
  );
}

/**
 * True when the database or schema exists with this tenant's mark, false when it does not exist.
 * @throws FleetwayError PROVISIONING_CONFLICT when it exists with another mark or none
 */
export async function requireMark(
  client: pg.Client,
  target: Provisioned,
  tenantId: string,
  purpose: "claim" | "drop",
): Promise<boolean> {
  const { rows } = await client.query<{ mark: string | null }>(
    "database" in target
      ? "SELECT shobj_description(oid, 'pg_database') AS mark FROM pg_database WHERE datname = $1"
      : "SELECT obj_description(oid, 'pg_namespace') AS mark FROM pg_namespace WHERE nspname = $1",
    ["database" in target ? target.database : target.schema],
  );
  const [row] = rows;
  if (row === undefined) return false;
  if (row.mark === provisionMark(tenantId)) return true;
  const what = "database" in target ? `Database '${target.database}'` : `Schema '${target.schema}'`;
  throw new FleetwayError(
    ErrorCode.PROVISIONING_CONFLICT,
    purpose === "claim"
      ? `${what} already exists and was not created by Fleetway for tenant '${tenantId}'; ` +
          "register an existing database with databaseUrl (and schema) instead of provision"
      : `${what} does not carry Fleetway's mark for tenant '${tenantId}', so Fleetway cannot ` +
          "tell it created it: not dropped and the tenant is kept (DELETE without drop forgets it)",
    { tenantId, ...target },
  );
}

/**
 * One short-lived provisioning connection to `url` (CREATE and DROP, and a drop's lock), closed
 * after `fn`. A failing close is ignored: what `fn` did, or the error it threw, is the answer.
 *
 * @throws FleetwayError CONNECTION_FAILED, or what `fn` throws
 */
export async function withProvisionClient<T>(
  url: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connect(url, "fleetway-provision");
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** {@link withProvisionClient}; SQL errors become PROVISIONING_FAILED, Fleetway's own pass through. */
async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  try {
    return await withProvisionClient(url, fn);
  } catch (error) {
    throw asProvisioningError(error);
  }
}

/** Fleetway's own errors as they are; anything else (SQL, a lost connection) PROVISIONING_FAILED. */
export function asProvisioningError(error: unknown): FleetwayError {
  return isFleetwayError(error) ? error : provisioningFailed(error);
}

function provisioningFailed(error: unknown): FleetwayError {
  return new FleetwayError(
    ErrorCode.PROVISIONING_FAILED,
    `Provisioning failed: ${error instanceof Error ? error.message : String(error)}`,
    { sqlstate: sqlStateOf(error) },
    { cause: error },
  );
}
