/**
 * Pooled tenant connections (what workers use): a run reuses the connection an earlier run left,
 * but only after the session is back to the state of a new connection, and never after a failure
 * or a cancel.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import { ErrorCode, FleetwayError } from "../../src/engine/errors.js";
import {
  createPooledConnections,
  dedicatedConnections,
  type PooledConnections,
  type TenantConnections,
} from "../../src/engine/runner/tenant-connections.js";
import { startFreezableProxy } from "../support/freezable-proxy.js";
import { revisionDir, type RevisionDir } from "../support/revision-fixtures.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

/** Records the backend pid of every connection lent, and what the session looked like then. */
function observed(inner: TenantConnections): TenantConnections & { pids: number[] } {
  const pids: number[] = [];
  return {
    pids,
    async acquire(connectionString, applicationName) {
      const lease = await inner.acquire(connectionString, applicationName);
      const { rows } = await lease.client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      pids.push(rows[0]?.pid ?? -1);
      return lease;
    },
  };
}

describe("pooled tenant connections", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  let pooled: PooledConnections;

  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      { id: "a1", up: "CREATE TABLE items (id int)", downgrade: "DROP TABLE items" },
      {
        id: "b2",
        down: ["a1"],
        // Session state a revision may leave behind: all of it must be gone before reuse.
        up: "CREATE TEMP TABLE scratch (x int); SET work_mem = '7MB'; ALTER TABLE items ADD note text",
        downgrade: "ALTER TABLE items DROP note",
      },
      {
        id: "c3",
        down: ["b2"],
        up: "ALTER TABLE items ADD size int",
        downgrade: "SELECT 1/0",
      },
    ]);
  });
  after(async () => {
    await revisions.remove();
    await db.drop();
  });
  beforeEach(() => {
    pooled = createPooledConnections({
      maxPerDatabase: 2,
      idleMs: 60_000,
      maxDatabases: 4,
      maxOpen: 4,
      applicationName: "fleetway-test-pool",
    });
  });
  afterEach(async () => {
    await pooled.close();
  });

  const run = (
    connections: TenantConnections,
    operation: "upgrade" | "downgrade",
    target: string,
  ) =>
    revisions.run({
      connectionString: db.url,
      schema: "t1",
      operation,
      target,
      connections,
    });

  it("runs again on the same backend, with a clean session and no advisory lock held", async () => {
    const connections = observed(pooled);
    const advisoryLocks = async (): Promise<number | undefined> => {
      const { rows } = await db.query(
        "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = $1",
        [connections.pids[0]],
      );
      return (rows[0] as { n: number } | undefined)?.n;
    };
    // A new tenant: the lock's first attempt fails with its read on the missing tables, and the
    // poll takes the lock again (it stacks); giving the connection back must release both.
    await run(connections, "upgrade", "b2");
    assert.equal(await advisoryLocks(), 0, "the new tenant's run left no advisory lock held");
    await run(connections, "upgrade", "head");
    assert.equal(connections.pids.length, 2);
    assert.equal(connections.pids[0], connections.pids[1], "second run reused the backend");
    assert.equal(pooled.openConnections(), 1);

    assert.equal(await advisoryLocks(), 0, "the idle connection holds no advisory lock");

    const lease = await pooled.acquire(db.url, "fleetway-job-next");
    try {
      const { rows } = await lease.client.query<{
        search_path: string;
        work_mem: string;
        app: string;
        temp: string | null;
      }>(
        `SELECT current_setting('search_path') AS search_path,
                current_setting('work_mem') AS work_mem,
                current_setting('application_name') AS app,
                to_regclass('pg_temp.scratch')::text AS temp`,
      );
      const session = rows[0];
      assert.equal(session?.search_path, '"$user", public');
      assert.notEqual(session.work_mem, "7MB");
      assert.equal(session.app, "fleetway-job-next", "each run names itself to lock waiters");
      assert.equal(session.temp, null, "temporary tables are dropped");
    } finally {
      await lease.release(true);
    }
  });

  it("closes the connection of a run that failed instead of lending it again", async () => {
    const connections = observed(pooled);
    await run(connections, "upgrade", "head");
    await assert.rejects(run(connections, "downgrade", "b2"), (error: unknown) => {
      assert.ok(error instanceof FleetwayError);
      assert.equal(error.code, ErrorCode.MIGRATION_FAILED);
      return true;
    });
    await run(connections, "upgrade", "head");
    assert.equal(connections.pids[0], connections.pids[1], "a clean run's connection was reused");
    assert.notEqual(connections.pids[1], connections.pids[2], "the failed run's was not");
  });

  it("never lends again a connection whose run saw a cancel", async () => {
    const connections = observed(pooled);
    await run(connections, "upgrade", "head");
    const cancel = new AbortController();
    // Cancelled while it holds the connection; a pg_cancel_backend may still be on its way.
    await revisions
      .run({
        connectionString: db.url,
        schema: "t1",
        operation: "upgrade",
        target: "head",
        connections,
        signal: cancel.signal,
        onProgress: (event) => {
          if (event.kind === "lock-acquired") cancel.abort(new Error("cancel requested"));
        },
      })
      .catch(() => undefined);
    await run(connections, "upgrade", "head");
    assert.equal(connections.pids.length, 3);
    assert.equal(connections.pids[0], connections.pids[1]);
    assert.notEqual(connections.pids[2], connections.pids[1], "the cancelled run's backend");
  });

  it("replaces an idle connection the server closed, without failing the run", async () => {
    const connections = observed(pooled);
    await run(connections, "upgrade", "head");
    await db.query("SELECT pg_terminate_backend($1)", [connections.pids[0]]);
    // Give the pool a moment to notice; if it has not, the first query on it fails and is retried.
    await run(connections, "upgrade", "head");
    assert.notEqual(connections.pids[1], connections.pids[0]);
  });

  it("keeps no more than maxOpen connections once they are given back", async () => {
    const capped = createPooledConnections({
      maxPerDatabase: 2,
      idleMs: 60_000,
      maxDatabases: 2,
      maxOpen: 1,
      applicationName: "fleetway-test-pool",
    });
    try {
      // Two tenants of one database at once: two connections are lent, one is kept afterwards.
      await Promise.all(
        ["cap_a", "cap_b"].map((schema) =>
          revisions.run({
            connectionString: db.url,
            schema,
            operation: "upgrade",
            target: "head",
            connections: capped,
          }),
        ),
      );
      assert.equal(capped.openConnections(), 1);
    } finally {
      await capped.close();
    }
  });

  it("bounds the pools it keeps: the least recently used database's pool is closed", async () => {
    const small = createPooledConnections({
      maxPerDatabase: 1,
      idleMs: 60_000,
      maxDatabases: 1,
      maxOpen: 2,
      applicationName: "fleetway-test-pool",
    });
    const other = await createTestDatabase();
    try {
      await run(small, "upgrade", "head");
      await revisions.run({
        connectionString: other.url,
        operation: "upgrade",
        target: "head",
        connections: small,
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const { rows } = await db.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'fleetway-test-pool'",
        [db.name],
      );
      assert.equal(
        (rows[0] as { n: number } | undefined)?.n,
        0,
        "the first database's idle connection was closed",
      );
      assert.equal(small.openConnections(), 1);
    } finally {
      await small.close();
      await other.drop();
    }
  });

  const isConnectionFailed = (error: unknown): boolean =>
    error instanceof FleetwayError && error.code === ErrorCode.CONNECTION_FAILED;

  // Without the timeouts these never end: the test's own timeout fails them.
  it(
    "drops a connection whose server stopped answering when it is given back, and fails to open one",
    { timeout: 15_000 },
    async () => {
      const proxy = await startFreezableProxy();
      const quick = createPooledConnections({
        maxPerDatabase: 2,
        idleMs: 60_000,
        maxDatabases: 4,
        maxOpen: 4,
        applicationName: "fleetway-test-pool",
        connectTimeoutMs: 500,
        resetTimeoutMs: 500,
      });
      try {
        const lease = await quick.acquire(proxy.through(db.url), "fleetway-test-pool");
        await lease.client.query("SELECT 1");
        proxy.freeze();
        await lease.release(true); // DISCARD ALL gets no answer
        assert.equal(quick.openConnections(), 0, "dropped, not kept for the next run");
        await assert.rejects(
          quick.acquire(proxy.through(db.url), "fleetway-test-pool"),
          isConnectionFailed,
        );
      } finally {
        await quick.close();
        await proxy.close();
      }
    },
  );

  it(
    "gives up a connection attempt after the URL's connect_timeout",
    { timeout: 15_000 },
    async () => {
      const proxy = await startFreezableProxy();
      proxy.freeze();
      try {
        const url = new URL(proxy.through(db.url));
        url.searchParams.set("connect_timeout", "1");
        await assert.rejects(
          dedicatedConnections.acquire(url.toString(), "fleetway-test"),
          isConnectionFailed,
        );
      } finally {
        await proxy.close();
      }
    },
  );
});
