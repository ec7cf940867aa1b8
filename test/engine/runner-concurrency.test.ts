/**
 * Runners that meet on one tenant: the advisory lock serializes them (without ever blocking in
 * pg_advisory_lock), a waiter gives up naming the holder, and cancellation stops a statement.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import type { FleetwayError } from "../../src/engine/errors.js";
import { advisoryLockKey } from "../../src/engine/runner/advisory-lock.js";
import {
  FIRST_READ_LOCK_TIMEOUT_MS,
  readCurrentHeads,
  readHistory,
  type LockHolder,
  type RunProgressEvent,
  type RunResult,
} from "../../src/engine/runner/run-migration.js";
import {
  dedicatedConnections,
  type TenantConnections,
} from "../../src/engine/runner/tenant-connections.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

/**
 * Starts a run that will hold the tenant's lock; `started` resolves once its first step runs,
 * that is once the lock is held.
 */
function startHolder(
  revisions: RevisionDir,
  options: Parameters<RevisionDir["run"]>[0],
): { started: Promise<void>; done: Promise<RunResult> } {
  let holding!: () => void;
  const started = new Promise<void>((resolve) => (holding = resolve));
  const done = revisions.run({
    ...options,
    onProgress: (e) => {
      if (e.kind === "step-started") holding();
    },
  });
  return { started, done };
}

describe("runner: two runners racing on one database", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      {
        id: "p1",
        up: "CREATE TABLE t_p1 (id int);\nSELECT pg_sleep(0.3);",
        downgrade: "DROP TABLE t_p1;",
      },
      // While this runs in the holder, the waiter keeps polling. Had it blocked in
      // pg_advisory_lock, its open snapshot would make CREATE INDEX CONCURRENTLY wait forever.
      {
        id: "p2",
        down: ["p1"],
        transactional: false,
        up: "CREATE INDEX CONCURRENTLY t_p1_idx ON t_p1 (id);",
        downgrade: "DROP INDEX CONCURRENTLY t_p1_idx;",
      },
      tableRevision("p3", ["p2"]),
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("one waits, nothing is applied twice, both end at head", async () => {
    const events: RunProgressEvent[][] = [[], []];
    const runs = [0, 1].map((i) =>
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        applicationName: `runner-${i}`,
        onProgress: (e) => events[i]?.push(e),
      }),
    );
    const results = await Promise.all(runs);
    const stepCounts = results.map((r) => r.plan.steps.length).sort();
    assert.deepEqual(stepCounts, [0, 3]);
    assert.equal(events.flat().filter((e) => e.kind === "lock-waiting").length, 1);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["p3"]);
    const history = await readHistory({ connectionString: db.url });
    assert.deepEqual(history.map((h) => h.revision).sort(), ["p1", "p2", "p3"]);
  });
});

describe("runner: two runners racing on a tenant migrated before", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("e1"),
      {
        id: "e2",
        down: ["e1"],
        up: "CREATE TABLE t_e2 (id int);\nSELECT pg_sleep(1);",
        downgrade: "DROP TABLE t_e2;",
      },
    ]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "e1" });
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("the waiter plans from the heads under the lock, not those read with its first try", async () => {
    // The waiter's first attempt at the lock reads the heads in the same round trip (e1, while
    // the holder runs e2); planning from them would run e2 a second time.
    const options = { connectionString: db.url, operation: "upgrade" as const, target: "head" };
    const holder = startHolder(revisions, options);
    await holder.started;
    let waited = false;
    const waiter = await revisions.run({
      ...options,
      onProgress: (e) => {
        if (e.kind === "lock-waiting") waited = true;
      },
    });
    assert.equal((await holder.done).plan.steps.length, 1);
    assert.equal(waited, true, "the waiter met the holder");
    assert.deepEqual([waiter.fromHeads, waiter.plan.steps.length], [["e2"], 0]);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["e2"]);
  });
});

describe("runner: a holder whose revision locks the version table", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("v1"),
      {
        // What adopting an Alembic fleet may do: widen the version table, here slowly.
        id: "v2",
        down: ["v1"],
        up: "ALTER TABLE fleetway_version ALTER COLUMN version_num TYPE varchar(64);\nSELECT pg_sleep(3);",
        downgrade: "SELECT 1;",
      },
    ]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "v1" });
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("a waiter's first read does not wait on that table: it polls and gives up in time", async () => {
    const holder = startHolder(revisions, {
      connectionString: db.url,
      operation: "upgrade",
      target: "head",
      applicationName: "widening-holder",
    });
    let holderDone = false;
    void holder.done.then(() => (holderDone = true));
    await holder.started;
    // Until the holder's ALTER TABLE holds the version table.
    for (;;) {
      const { rows } = await db.query(
        `SELECT count(*)::int AS n FROM pg_locks
          WHERE relation = 'fleetway_version'::regclass AND mode = 'AccessExclusiveLock' AND granted`,
      );
      if ((rows[0] as { n: number }).n > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    let waited = false;
    // Had the first read waited for the table, it would have waited out the holder's revision
    // (3 s) and then found the tenant free, instead of giving up after its lock timeout.
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        advisoryLockTimeoutMs: 300,
        onProgress: (e) => {
          if (e.kind === "lock-waiting") waited = true;
        },
      }),
      (error: FleetwayError) => error.code === "LOCK_BUSY",
    );
    assert.equal(holderDone, false, "gave up while the holder still ran");
    assert.equal(waited, true, "reported as waiting for the lock");
    await holder.done;
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["v2"]);
  });
});

describe("runner: the first attempt at the lock waits on the version table", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  let holder: pg.Client;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([tableRevision("w1")]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "head" });
    // A holder of the tenant's lock whose open transaction locks the version table.
    holder = new pg.Client({ connectionString: db.url, application_name: "table-holder" });
    await holder.connect();
    const key = advisoryLockKey(db.name, "public", "fleetway_version");
    await holder.query("SELECT pg_advisory_lock($1::bigint)", [key.toString()]);
    await holder.query("BEGIN; LOCK TABLE fleetway_version IN ACCESS EXCLUSIVE MODE");
  });
  after(async () => {
    await holder.end();
    await db.drop();
    await revisions.remove();
  });

  it("counts that wait in the advisory-lock timeout", async () => {
    const sleeps: number[] = [];
    let waited = false;
    // The first attempt's read waits FIRST_READ_LOCK_TIMEOUT_MS for the version table before it
    // gives up; with a timeout no longer than that, the poll after it finds the time used up.
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        advisoryLockTimeoutMs: FIRST_READ_LOCK_TIMEOUT_MS,
        sleep: (ms) => {
          sleeps.push(ms);
          return Promise.resolve();
        },
        onProgress: (e) => {
          if (e.kind === "lock-waiting") waited = true;
        },
      }),
      (error: FleetwayError) => {
        assert.equal(error.code, "LOCK_BUSY");
        assert.equal((error.data.holder as LockHolder).applicationName, "table-holder");
        return true;
      },
    );
    assert.equal(waited, true, "reported as waiting for the lock");
    assert.deepEqual(sleeps, [], "gave up at its first poll, without sleeping");
  });
});

describe("runner: a tenant database defaulting to serializable", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    await db.query(
      `ALTER DATABASE "${db.name}" SET default_transaction_isolation = 'serializable'`,
    );
    revisions = await revisionDir([tableRevision("s1"), tableRevision("s2", ["s1"])]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("is migrated, then found at head, with the lock and the heads read in one query", async () => {
    const options = { connectionString: db.url, operation: "upgrade" as const };
    assert.equal((await revisions.run({ ...options, target: "s1" })).plan.steps.length, 1);
    assert.equal((await revisions.run({ ...options, target: "head" })).plan.steps.length, 1);
    const again = await revisions.run({ ...options, target: "head" });
    assert.deepEqual([again.fromHeads, again.plan.steps.length], [["s2"], 0]);
  });
});

describe("runner: lock busy", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      { id: "b1", up: "SELECT pg_sleep(1.5);", downgrade: "SELECT 1;" },
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("a waiter gives up after its timeout with an error naming the holder", async () => {
    const holder = startHolder(revisions, {
      connectionString: db.url,
      operation: "upgrade",
      target: "head",
      applicationName: "holder-app",
    });
    await holder.started;
    let reported: LockHolder | null = null;
    const started = Date.now();
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        advisoryLockTimeoutMs: 300,
        onProgress: (e) => {
          if (e.kind === "lock-waiting") reported = e.holder;
        },
      }),
      (error: FleetwayError) => {
        assert.equal(error.code, "LOCK_BUSY");
        const named = error.data.holder as LockHolder;
        assert.equal(named.applicationName, "holder-app");
        assert.equal(typeof named.pid, "number");
        assert.match(error.message, /pid \d+ \('holder-app', connected since /);
        return true;
      },
    );
    assert.ok(Date.now() - started < 1_400, "gave up before the holder finished");
    assert.equal((reported as LockHolder | null)?.applicationName, "holder-app");
    await holder.done;
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["b1"]);
  });
});

describe("runner: a cancel while the connection is being opened", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([tableRevision("k1")]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "head" });
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("is not missed: the run with nothing to do ends cancelled, not succeeded", async () => {
    const cancel = new AbortController();
    // The abort lands after the connection's own query and before the runner's first one.
    const connections: TenantConnections = {
      async acquire(connectionString, applicationName) {
        const lease = await dedicatedConnections.acquire(connectionString, applicationName);
        cancel.abort(new Error("cancel requested"));
        return lease;
      },
    };
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        connections,
        signal: cancel.signal,
      }),
      (error: FleetwayError) => error.code === "MIGRATION_CANCELLED",
    );
  });
});

describe("runner: cancellation", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("z1"),
      {
        id: "z2",
        down: ["z1"],
        up: "CREATE TABLE t_z2 (id int);\nSELECT pg_sleep(30);",
        downgrade: "DROP TABLE t_z2;",
      },
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("cancels the running statement, rolls the step back and reports MIGRATION_CANCELLED", async () => {
    const controller = new AbortController();
    const started = Date.now();
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        signal: controller.signal,
        onProgress: (e) => {
          if (e.kind === "step-started" && e.step.kind === "revision" && e.step.revision === "z2") {
            setTimeout(() => {
              controller.abort();
            }, 300);
          }
        },
      }),
      (error: FleetwayError) => {
        assert.equal(error.code, "MIGRATION_CANCELLED");
        assert.equal(error.data.revision, "z2");
        return true;
      },
    );
    assert.ok(Date.now() - started < 10_000, "did not wait for pg_sleep(30)");
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["z1"]);
    const tables = await db.query(
      "SELECT tablename FROM pg_tables WHERE tablename LIKE 't\\_z%' ORDER BY 1",
    );
    assert.deepEqual(tables.rows, [{ tablename: "t_z1" }]);
    const [latest] = await readHistory({ connectionString: db.url });
    assert.equal(latest?.success, false);
    assert.equal(latest.error?.code, "MIGRATION_CANCELLED");
    const sessions = await db.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    );
    assert.deepEqual(sessions.rows, [{ n: 0 }], "the runner closed its connections");
  });

  it("an already aborted signal runs nothing", async () => {
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        signal: AbortSignal.abort(),
      }),
      { code: "MIGRATION_CANCELLED" },
    );
  });
});
