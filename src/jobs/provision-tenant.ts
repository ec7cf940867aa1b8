import { connect, sqlStateOf } from "../engine/runner/connect.js";
import { ErrorCode, FleetwayError } from "../engine/errors.js";
import type { Provisioned } from "../control/tenant-store.js";

const DUPLICATE_DATABASE = "42P04";
const UNIQUE_VIOLATION = "23505";

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

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
 * Creates the tenant's database through the admin connection. Already existing is fine: a retried
 * sign-up (same Idempotency-Key, or a client retrying after a timeout) must not fail on it.
 */
export async function createTenantDatabase(adminUrl: string, database: string): Promise<void> {
  const client = await connect(adminUrl, "fleetway-provision");
  try {
    await client.query(`CREATE DATABASE ${quoteIdent(database)}`);
  } catch (error) {
    const state = sqlStateOf(error);
    if (state !== DUPLICATE_DATABASE && state !== UNIQUE_VIOLATION) throw provisioningFailed(error);
  } finally {
    await client.end();
  }
}

/** Creates the tenant's schema in its database (with the tenant's own connection string). */
export async function createTenantSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = await connect(databaseUrl, "fleetway-provision");
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
  } catch (error) {
    throw provisioningFailed(error);
  } finally {
    await client.end();
  }
}

/** Drops exactly what was provisioned: the database (sessions are closed) or the schema. */
export async function dropProvisioned(
  adminUrl: string | null,
  databaseUrl: string,
  provisioned: Provisioned,
): Promise<void> {
  if ("database" in provisioned) {
    if (adminUrl === null) throw provisioningDisabled();
    const client = await connect(adminUrl, "fleetway-provision");
    try {
      await client.query(
        `DROP DATABASE IF EXISTS ${quoteIdent(provisioned.database)} WITH (FORCE)`,
      );
    } finally {
      await client.end();
    }
    return;
  }
  const client = await connect(databaseUrl, "fleetway-provision");
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(provisioned.schema)} CASCADE`);
  } finally {
    await client.end();
  }
}

function provisioningFailed(error: unknown): FleetwayError {
  return new FleetwayError(
    ErrorCode.PROVISIONING_FAILED,
    `Provisioning failed: ${error instanceof Error ? error.message : String(error)}`,
    { sqlstate: sqlStateOf(error) },
    { cause: error },
  );
}
