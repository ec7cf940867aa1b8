import { createHash } from "node:crypto";
import type pg from "pg";
import type { Provisioned } from "../control/tenant-store.js";
import { quoteIdent } from "../engine/runner/sql-identifiers.js";
import {
  asProvisioningError,
  bounded,
  provisioningDisabled,
  requireMark,
  withProvisionClient,
  type ProvisionLimits,
} from "./provision-tenant.js";

/** What one tenant's drop drops, and through which connections. */
export interface DropTarget {
  readonly tenantId: string;
  readonly provisioned: Provisioned;
  /** Admin connection, for a database; null disables dropping one. */
  readonly adminUrl: string | null;
  /** The tenant's own connection string, for a schema. */
  readonly databaseUrl: string;
  readonly limits: ProvisionLimits;
}

/**
 * The connection that drops a tenant's database or schema, and holds the tenant's drop lock
 * while it does: an advisory lock on the server being dropped on, not in the control database,
 * so a drop holds no control connection, and the lock lives exactly as long as the server
 * session doing the drop (a DROP whose Fleetway process died runs on, and holds it, until the
 * server is done). Every method fails with Fleetway's own errors or PROVISIONING_FAILED.
 */
export interface DropSession {
  /** Takes the drop lock without waiting; false when another session holds it (another drop). */
  tryLock(): Promise<boolean>;
  /**
   * Drops what was provisioned if it carries the tenant's mark (the mark, not the tenant's
   * record, says Fleetway created it); gone already is fine (IF EXISTS: a drop finished before).
   * @throws FleetwayError PROVISIONING_CONFLICT when it exists without this tenant's mark,
   *   PROVISIONING_TIMEOUT when another session's lock outlasts `limits.lockTimeoutMs`
   */
  drop(): Promise<void>;
  /**
   * After {@link drop} failed: true when this session still holds the drop lock, so what the
   * failed statement did was rolled back and no other drop runs; false when that is not known
   * (the connection was lost, and the server may still be dropping).
   */
  stillLocked(): Promise<boolean>;
}

/**
 * Runs `fn` with a {@link DropSession} on the server of `target` (a database through the admin
 * connection, a schema through the tenant's own), closed (and its lock released) after.
 *
 * @throws FleetwayError PROVISIONING_DISABLED (a database without an admin connection),
 *   CONNECTION_FAILED, or what `fn` throws
 */
export async function withDropSession<T>(
  target: DropTarget,
  fn: (session: DropSession) => Promise<T>,
): Promise<T> {
  const { provisioned } = target;
  if ("database" in provisioned) {
    if (target.adminUrl === null) throw provisioningDisabled();
    return withSession(target.adminUrl, (c) => databaseDropSession(c, target, provisioned), fn);
  }
  return withSession(target.databaseUrl, (c) => schemaDropSession(c, target, provisioned), fn);
}

/**
 * The session's own failures are mapped (mapErrors), not `fn`'s: what `fn` does besides (the
 * control database's mark) is no provisioning failure.
 */
async function withSession<T>(
  url: string,
  open: (client: pg.Client) => DropSession,
  fn: (session: DropSession) => Promise<T>,
): Promise<T> {
  return withProvisionClient(url, (client) => fn(mapErrors(open(client))));
}

/**
 * The drop lock's key: a class of Fleetway's own and a hash of the tenant id, as two int4s, a key
 * space apart from the migration locks' bigints (advisoryLockKey): they never collide.
 */
const DROP_LOCK_CLASS = 0x666c7764; // "flwd"

function dropLockKey(tenantId: string): [number, number] {
  return [DROP_LOCK_CLASS, createHash("sha256").update(tenantId).digest().readInt32BE(0)];
}

/**
 * DROP DATABASE refuses a transaction block, so the lock is the session's; the admin connection
 * is direct (FLEETWAY_PROVISION_ADMIN_URL), so it stays on this session.
 */
function databaseDropSession(
  client: pg.Client,
  target: DropTarget,
  provisioned: { readonly database: string },
): DropSession {
  return {
    async tryLock() {
      const { rows } = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_lock($1::int, $2::int) AS locked",
        dropLockKey(target.tenantId),
      );
      return rows[0]?.locked === true;
    },
    async drop() {
      if (!(await requireMark(client, provisioned, target.tenantId, "drop"))) return;
      const work = {
        action: "drop",
        target: provisioned,
        limits: target.limits,
        local: false,
      } as const;
      await bounded(client, work, () =>
        client.query(`DROP DATABASE IF EXISTS ${quoteIdent(provisioned.database)} WITH (FORCE)`),
      );
    },
    async stillLocked() {
      // The session answers: it is the one that took the lock, and holds it still.
      return client.query("SELECT 1").then(
        () => true,
        () => false,
      );
    },
  };
}

/**
 * A schema is dropped in a transaction on the tenant's own connection string, which may lead
 * through a transaction pooler: the lock is the transaction's, taken before the drop and held
 * until it commits. The drop runs in a savepoint, so after a failure the transaction, and the
 * lock, are still there to be checked.
 */
function schemaDropSession(
  client: pg.Client,
  target: DropTarget,
  provisioned: { readonly schema: string },
): DropSession {
  return {
    async tryLock() {
      await client.query("BEGIN");
      const { rows } = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_xact_lock($1::int, $2::int) AS locked",
        dropLockKey(target.tenantId),
      );
      if (rows[0]?.locked === true) return true;
      await client.query("ROLLBACK");
      return false;
    },
    async drop() {
      await client.query("SAVEPOINT fleetway_drop");
      if (await requireMark(client, provisioned, target.tenantId, "drop")) {
        const work = {
          action: "drop",
          target: provisioned,
          limits: target.limits,
          local: true,
        } as const;
        await bounded(client, work, () =>
          client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(provisioned.schema)} CASCADE`),
        );
      }
      await client.query("COMMIT");
    },
    async stillLocked() {
      // Succeeds only inside the transaction that took the lock: not after its COMMIT (whatever
      // became of it), nor on a lost connection.
      return client.query("ROLLBACK TO SAVEPOINT fleetway_drop").then(
        () => true,
        () => false,
      );
    },
  };
}

/** The session with its failures as Fleetway errors (PROVISIONING_FAILED for SQL and network). */
function mapErrors(session: DropSession): DropSession {
  const mapped =
    <T>(fn: () => Promise<T>) =>
    async (): Promise<T> => {
      try {
        return await fn();
      } catch (error) {
        throw asProvisioningError(error);
      }
    };
  return {
    tryLock: mapped(() => session.tryLock()),
    drop: mapped(() => session.drop()),
    stillLocked: () => session.stillLocked(),
  };
}
