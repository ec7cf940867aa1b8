import pg from "pg";
import { withDeadline } from "../with-deadline.js";
import { connect, connectionFailed, isConnectionError, tenantConnectionConfig } from "./connect.js";

/** A connection lent to one run. */
export interface TenantConnection {
  readonly client: pg.ClientBase;
  /** current_database(): part of the advisory lock's key. */
  readonly database: string;
  /** The backend's pid, which a cancel is sent to. */
  readonly pid: number;
  /**
   * Gives the connection back; the session's advisory locks are released before this resolves,
   * all of them however often each was taken (the runner may take its lock twice: see
   * tryLockReadingHeads).
   * `reusable` says the run ended cleanly (no transaction open, nothing cancelled); otherwise the
   * connection is closed, never reused.
   */
  release(reusable: boolean): Promise<void>;
  /**
   * Closes the connection at once, without a word to the server: for a server that stopped
   * answering (see cancelOnAbort). A query waiting on it rejects; the server ends the session,
   * releasing its advisory locks, once it notices. The connection is never lent again, and
   * release() afterwards only completes the hand-back.
   */
  drop(): void;
}

interface SessionIdentity {
  readonly db: string;
  readonly pid: number;
}

/** Where the runner gets its tenant connection from. */
export interface TenantConnections {
  acquire(connectionString: string, applicationName: string): Promise<TenantConnection>;
}

/** A new connection per run, closed after it: what the CLI uses (one run per process). */
export const dedicatedConnections: TenantConnections = {
  async acquire(connectionString, applicationName) {
    const client = await connect(connectionString, applicationName);
    let identity: SessionIdentity;
    try {
      const { rows } = await client.query<SessionIdentity>(
        "SELECT current_database() AS db, pg_backend_pid() AS pid",
      );
      identity = rows[0] ?? { db: "", pid: 0 };
    } catch (error) {
      await client.end().catch(() => undefined);
      throw connectionFailed(connectionString, error);
    }
    let dropped = false;
    return {
      client,
      database: identity.db,
      pid: identity.pid,
      release: async () => {
        // Dropped: closed already, and no answer is coming to an unlock nor to a goodbye.
        if (dropped) return;
        // Closing the session releases its locks too; unlocking first makes it immediate for
        // whoever waits, without depending on how fast the server reaps the backend.
        await client.query("SELECT pg_advisory_unlock_all()").catch(() => undefined);
        await client.end().catch(() => undefined);
      },
      drop: () => {
        if (dropped) return;
        dropped = true;
        closeNow(client);
      },
    };
  },
};

export interface PooledConnectionsOptions {
  /** Connections kept per connection string: a worker's concurrency is enough. */
  readonly maxPerDatabase: number;
  /** An idle connection is closed after this long. */
  readonly idleMs: number;
  /** Connection strings with a pool of their own; the least recently used pool beyond is closed. */
  readonly maxDatabases: number;
  /**
   * Connections kept open across all pools: a connection given back while this many are open is
   * closed instead of kept. (Lent connections are bounded by the worker's concurrency.)
   */
  readonly maxOpen: number;
  readonly applicationName: string;
  /**
   * How long opening a connection may take (default: the URL's `connect_timeout`, else 10 s).
   * pg.Pool also waits this long at most for a free connection, which a worker never does: it
   * lends at most `maxPerDatabase` (its concurrency) at once.
   */
  readonly connectTimeoutMs?: number;
  /**
   * How long resetting a returned connection (`DISCARD ALL`, or unlocking before closing it) may
   * take before the connection is dropped instead: a server that stopped answering must not hold
   * the run that is giving it back. Default 10 s.
   */
  readonly resetTimeoutMs?: number;
}

export interface PooledConnections extends TenantConnections {
  /** Closes every pool (waits for lent connections to come back). */
  close(): Promise<void>;
  /** Connections open now, lent or idle, across all pools (for metrics and tests). */
  openConnections(): number;
}

/**
 * Tenant connections kept open between runs, one pg.Pool per connection string. Opening a
 * PostgreSQL connection costs the server a process and its caches (about 5 ms of CPU, more than
 * everything else a no-op job does there); a worker migrating the same tenants again and again
 * should pay it once.
 *
 * A connection goes back only after `DISCARD ALL`, which returns the session to the state of a new
 * connection: advisory locks released, settings (search_path, timeouts, application_name a run
 * set) reset, temporary tables dropped. A connection that cannot be reset is closed, which
 * releases its locks as well. Anything unusual (an error, a cancel that may still be
 * on its way to the backend) closes the connection instead.
 */
export function createPooledConnections(options: PooledConnectionsOptions): PooledConnections {
  // Map iteration order is insertion order: re-inserting on use keeps the LRU pool first.
  const pools = new Map<string, pg.Pool>();
  const resetTimeoutMs = options.resetTimeoutMs ?? 10_000;

  const poolFor = (connectionString: string): pg.Pool => {
    const existing = pools.get(connectionString);
    if (existing !== undefined) {
      pools.delete(connectionString);
      pools.set(connectionString, existing);
      return existing;
    }
    const pool = new pg.Pool({
      ...tenantConnectionConfig(
        connectionString,
        options.applicationName,
        ...(options.connectTimeoutMs === undefined ? [] : [options.connectTimeoutMs]),
      ),
      max: options.maxPerDatabase,
      idleTimeoutMillis: options.idleMs,
      // Keep the process from exiting only for lent connections, never for idle ones.
      allowExitOnIdle: true,
    });
    // An idle connection that dies (server restart, pg_terminate_backend) is dropped by the pool;
    // without a listener its 'error' would crash the worker.
    pool.on("error", () => undefined);
    pools.set(connectionString, pool);
    if (pools.size > options.maxDatabases) {
      const [oldest, oldestPool] = pools.entries().next().value as [string, pg.Pool];
      pools.delete(oldest);
      void oldestPool.end().catch(() => undefined);
    }
    return pool;
  };

  const openConnections = (): number => {
    let total = 0;
    for (const pool of pools.values()) total += pool.totalCount;
    return total;
  };
  /** Connections being closed (still counted by their pool until then). */
  let closing = 0;

  return {
    async acquire(connectionString, applicationName) {
      const { client, identity } = await checkOut(
        () => poolFor(connectionString),
        connectionString,
        applicationName,
      );
      let released = false;
      return {
        client,
        database: identity.db,
        pid: identity.pid,
        async release(reusable) {
          if (released) return;
          released = true;
          if (!reusable || openConnections() - closing > options.maxOpen) {
            // pg-pool closes a destroyed connection without waiting, and the server releases its
            // locks only once the backend is gone: unlock first, so the tenant's next job (or
            // this one's retry) does not meet its own dead session as the lock holder.
            closing++;
            try {
              await queryWithin(client, "SELECT pg_advisory_unlock_all()", resetTimeoutMs).catch(
                () => undefined,
              );
            } finally {
              closing--;
              client.release(true);
            }
            return;
          }
          try {
            await queryWithin(client, "DISCARD ALL", resetTimeoutMs);
            client.release();
          } catch (error) {
            client.release(error instanceof Error ? error : true);
          }
        },
        drop() {
          // Counts as the hand-back: a later release() has nothing left to do, and pg-pool
          // refuses a second one.
          if (released) return;
          released = true;
          // Given back as broken, pg-pool takes it out of the pool at once (never lent again) and
          // ends it, which closes it now when a query is waiting on it (see closeNow).
          client.release(true);
        },
      };
    },
    async close() {
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((pool) => pool.end().catch(() => undefined)));
    },
    openConnections,
  };
}

/**
 * Closes a connection without waiting for the server. pg's public end() does exactly that while a
 * query is active: it destroys the socket at once ("a hung query could block end forever") and
 * the query rejects with "Connection terminated". With no query active it says goodbye first,
 * which a server that stopped answering never acknowledges; nothing waits for that here, and
 * the next query on the connection fails at once.
 */
function closeNow(client: pg.Client): void {
  void client.end().catch(() => undefined);
}

/**
 * Runs `sql`, or rejects once `ms` have passed without an answer; the caller then drops the
 * connection, which ends the query still waiting on it.
 */
async function queryWithin(client: pg.PoolClient, sql: string, ms: number): Promise<void> {
  // Lost the race, the query fails when the connection is dropped; nobody waits for it any more.
  await withDeadline(client.query(sql), ms, () => {
    throw new Error(`${sql} had no answer within ${ms} ms`);
  });
}

const guarded = new WeakSet<pg.PoolClient>();

/**
 * A pooled connection with this run's application_name (lock holders are reported by it). An
 * idle connection the server closed is only noticed on use: such a failure is retried once on a
 * fresh connection before it counts as CONNECTION_FAILED.
 */
async function checkOut(
  pool: () => pg.Pool,
  connectionString: string,
  applicationName: string,
): Promise<{ client: pg.PoolClient; identity: SessionIdentity }> {
  for (let attempt = 1; ; attempt++) {
    let client: pg.PoolClient;
    try {
      // Asked again on a retry: the pool may have been closed (evicted) meanwhile.
      client = await pool().connect();
    } catch (error) {
      throw connectionFailed(connectionString, error);
    }
    if (!guarded.has(client)) {
      // The pool listens for errors only while a connection is idle; one that breaks while lent
      // would emit an unhandled 'error'. The failing query reports it instead.
      client.on("error", () => undefined);
      guarded.add(client);
    }
    try {
      const { rows } = await client.query<SessionIdentity>(
        `SELECT set_config('application_name', $1, false), current_database() AS db,
                pg_backend_pid() AS pid`,
        [applicationName],
      );
      return { client, identity: rows[0] ?? { db: "", pid: 0 } };
    } catch (error) {
      client.release(true);
      if (attempt >= 2 || !isConnectionError(error))
        throw connectionFailed(connectionString, error);
    }
  }
}
