import { userInfo } from "node:os";
import pg from "pg";
import { ErrorCode, FleetwayError } from "../errors.js";
import { redactConnectionString } from "../redact-connection-string.js";

/**
 * pg's settings for a connection string. A URL without a user name connects as the operating
 * system user, as libpq (psql) does; node-postgres would otherwise take $USER, which service
 * managers and containers often leave unset.
 */
export function pgConnectionConfig(
  connectionString: string,
  applicationName: string,
): pg.ClientConfig {
  return { connectionString: withDefaultUser(connectionString), application_name: applicationName };
}

/** (pg lets the URL's empty user override a `user` option, so the user goes into the URL.) */
function withDefaultUser(connectionString: string): string {
  if (process.env.PGUSER || process.env.USER) return connectionString;
  try {
    const url = new URL(connectionString);
    if (url.username !== "") return connectionString;
    url.username = userInfo().username;
    return url.toString();
  } catch {
    // not a URL ("host=... user=..."), or no passwd entry for this uid: leave it to pg
    return connectionString;
  }
}

/** How long a connection attempt to a tenant may take, unless its URL sets `connect_timeout`. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * TCP keepalive after this much silence: a server that went away while a session waits on it (a
 * long statement, an idle pooled connection) is noticed by the kernel's probes, not waited for
 * until the connection is used again.
 */
const KEEPALIVE_DELAY_MS = 30_000;

/**
 * {@link pgConnectionConfig} for a connection to a tenant (or any database Fleetway migrates): a
 * connection attempt gives up after `connectTimeoutMs` (by default the URL's `connect_timeout`,
 * in seconds as for libpq, 0 for no limit, else {@link DEFAULT_CONNECT_TIMEOUT_MS}) instead of the
 * minutes the operating system spends on a host that drops packets, and TCP keepalive is on.
 */
export function tenantConnectionConfig(
  connectionString: string,
  applicationName: string,
  connectTimeoutMs: number = connectTimeoutOf(connectionString),
): pg.ClientConfig {
  return {
    ...pgConnectionConfig(connectionString, applicationName),
    connectionTimeoutMillis: connectTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
  };
}

/** The URL's `connect_timeout` in ms; node-postgres itself ignores that parameter. */
function connectTimeoutOf(connectionString: string): number {
  try {
    const seconds = new URL(connectionString).searchParams.get("connect_timeout");
    if (seconds !== null && /^\d+$/.test(seconds)) return Number(seconds) * 1000;
  } catch {
    // not a URL: the default
  }
  return DEFAULT_CONNECT_TIMEOUT_MS;
}

/**
 * Opens a dedicated, direct connection. A failure becomes CONNECTION_FAILED naming the host and
 * database but never the password (pg's own messages do not contain it either).
 */
export async function connect(
  connectionString: string,
  applicationName: string,
): Promise<pg.Client> {
  let client: pg.Client;
  try {
    // A string pg cannot parse fails here (stored before the API checked it): CONNECTION_FAILED.
    client = new pg.Client(tenantConnectionConfig(connectionString, applicationName));
  } catch (error) {
    throw connectionFailed(connectionString, error);
  }
  // An idle connection that dies (server restart, pg_terminate_backend) emits 'error'; without a
  // listener that would crash the process. The next query on it fails and is reported there.
  client.on("error", () => undefined);
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw connectionFailed(connectionString, error);
  }
}

/** CONNECTION_FAILED naming the host and database but never the password. */
export function connectionFailed(connectionString: string, error: unknown): FleetwayError {
  const reason = error instanceof Error ? error.message : String(error);
  const target = redactConnectionString(connectionString);
  return new FleetwayError(
    ErrorCode.CONNECTION_FAILED,
    `Could not connect to ${target}: ${reason}`,
    { database: target, reason, sqlstate: sqlStateOf(error) },
    { cause: error },
  );
}

/** The SQLSTATE of a pg error, or null. */
export function sqlStateOf(error: unknown): string | null {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = error.code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return null;
}

/** True for errors that mean the connection itself broke (not the SQL). */
export function isConnectionError(error: unknown): boolean {
  const state = sqlStateOf(error);
  if (state !== null) return state.startsWith("08") || state === "57P01" || state === "57P03";
  return (
    error instanceof Error &&
    /Connection terminated|ECONNRESET|ECONNREFUSED|not queryable/i.test(error.message)
  );
}
