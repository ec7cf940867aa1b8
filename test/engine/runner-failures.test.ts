/**
 * How the runner fails: a failing revision leaves the last good revision current with the error
 * located in its file; changed files are refused; lock timeouts and deadlocks are retried; a failed
 * CREATE INDEX CONCURRENTLY is cleaned up on the next attempt; connection errors hide passwords; a
 * cancel ends the run even when the tenant stopped answering.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import type { FleetwayError } from "../../src/engine/errors.js";
import { DROP_AFTER_CANCEL_MS } from "../../src/engine/runner/cancellation.js";
import {
  readCurrentHeads,
  readHistory,
  type RunProgressEvent,
} from "../../src/engine/runner/run-migration.js";
import {
  createPooledConnections,
  type TenantConnections,
} from "../../src/engine/runner/tenant-connections.js";
import {
  DEADLOCK_LOCKS,
  DEADLOCK_TABLES_SQL,
  runThroughDeadlock,
} from "../support/deadlock-peer.js";
import { startFreezableProxy } from "../support/freezable-proxy.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

const noSleep = (): Promise<void> => Promise.resolve();

const F2_UP =
  "CREATE TABLE t_f2 (id int);\nINSERT INTO t_f2 VALUES (1);\nSELECT missing_column\n  FROM t_f2;";

describe("runner: a failing revision", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("f1"),
      {
        id: "f2",
        down: ["f1"],
        // line 5 of the file is "-- upgrade"; the failing statement starts on line 8
        up: F2_UP,
        downgrade: "DROP TABLE t_f2;",
      },
      tableRevision("f3", ["f2"]),
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("rolls its transaction back, keeps the previous revision current and locates the error", async () => {
    const error = await revisions
      .run({ connectionString: db.url, operation: "upgrade", target: "head" })
      .then(
        () => assert.fail("expected a failure"),
        (e: unknown) => e as FleetwayError,
      );
    assert.equal(error.code, "MIGRATION_FAILED");
    assert.equal(error.data.revision, "f2");
    assert.equal(error.data.direction, "up");
    assert.equal(error.data.sqlstate, "42703");
    assert.match(String(error.data.message), /column "missing_column" does not exist/);
    // The position is within the revision's SQL, even though BEGIN goes in the same query.
    assert.equal(error.data.position, F2_UP.indexOf("missing_column") + 1);
    assert.equal(error.data.line, 8);
    assert.match(error.message, /f2\.sql:8/);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["f1"]);
    const tables = await db.query(
      "SELECT tablename FROM pg_tables WHERE tablename LIKE 't\\_%' ORDER BY 1",
    );
    assert.deepEqual(tables.rows, [{ tablename: "t_f1" }]);
    const [failure] = await readHistory({ connectionString: db.url });
    assert.equal(failure?.revision, "f2");
    assert.equal(failure.success, false);
    assert.deepEqual(failure.headsAfter, ["f1"]);
    assert.equal(failure.error?.code, "MIGRATION_FAILED");
    assert.equal(failure.error.sqlstate, "42703");
  });

  it("after the file is fixed (not yet applied, so no checksum applies) the run goes on", async () => {
    await revisions.write(tableRevision("f2", ["f1"]));
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "head" });
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["f3"]);
  });
});

describe("runner: SQL sent in one query with its bookkeeping", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      // No final semicolon, and a trailing comment: the bookkeeping after it must still run.
      { id: "e1", up: "CREATE TABLE t_e1 (id int) -- the end", downgrade: "DROP TABLE t_e1" },
      { id: "e2", down: ["e1"], up: "INSERT INTO t_e1 VALUES (1); /* done */" },
      { id: "e3", down: ["e2"], up: "" },
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("records every step whatever the end of its SQL looks like", async () => {
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "head" });
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["e3"]);
    const history = await readHistory({ connectionString: db.url });
    assert.deepEqual(
      history.map((h) => [h.revision, h.success]),
      [
        ["e3", true],
        ["e2", true],
        ["e1", true],
      ],
    );
    assert.ok(history.every((h) => h.durationMs >= 0 && h.finishedAt >= h.startedAt));
    const rows = await db.query("SELECT count(*)::int AS n FROM t_e1");
    assert.deepEqual(rows.rows, [{ n: 1 }]);
  });
});

describe("runner: transaction mode all, failing at COMMIT", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    // c2 breaks a deferred foreign key: every step succeeds and the run fails at its COMMIT.
    revisions = await revisionDir([
      {
        id: "c1",
        up: `CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (parent_id int REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);`,
        downgrade: "DROP TABLE child; DROP TABLE parent;",
      },
      {
        id: "c2",
        down: ["c1"],
        up: "INSERT INTO child VALUES (42);",
        downgrade: "DELETE FROM child;",
      },
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("is MIGRATION_FAILED with its SQLSTATE, rolled back and recorded", async () => {
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        transactionMode: "all",
      }),
      (error: FleetwayError) => {
        assert.equal(error.code, "MIGRATION_FAILED");
        assert.deepEqual(
          [error.data.sqlstate, error.data.commit, error.data.constraint],
          ["23503", true, "child_parent_id_fkey"],
        );
        assert.match(error.message, /COMMIT/);
        return true;
      },
    );
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), []);
    const history = await readHistory({ connectionString: db.url });
    assert.deepEqual(
      history.map((h) => [h.revision, h.success, h.error?.sqlstate]),
      [["c2", false, "23503"]],
    );
  });
});

describe("runner: a version table changed behind the runner's back", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("v1"),
      // Stands for any writer that ignores the advisory lock: the head change then hits no row.
      { id: "v2", down: ["v1"], up: "CREATE TABLE t_v2 (id int); DELETE FROM fleetway_version;" },
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("refuses to record the step (VERSION_TABLE_CONFLICT) and rolls it back", async () => {
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "v1" });
    await assert.rejects(
      revisions.run({ connectionString: db.url, operation: "upgrade", target: "head" }),
      (error: FleetwayError) => {
        assert.equal(error.code, "VERSION_TABLE_CONFLICT");
        assert.match(error.message, /UPDATE 'v1' -> 'v2' did not affect exactly one row/);
        return true;
      },
    );
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["v1"]);
    const tables = await db.query("SELECT to_regclass('public.t_v2') AS t");
    assert.equal((tables.rows[0] as { t: string | null }).t, null);
  });
});

describe("runner: checksums of applied revisions", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([tableRevision("k1"), tableRevision("k2", ["k1"])]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "k1" });
    await revisions.write({ ...tableRevision("k1"), up: "CREATE TABLE t_k1 (id bigint);" });
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("refuses to run when an applied revision's file changed", async () => {
    await assert.rejects(
      revisions.run({ connectionString: db.url, operation: "upgrade", target: "head" }),
      (error: FleetwayError) => {
        assert.equal(error.code, "CHECKSUM_MISMATCH");
        const [mismatch] = error.data.mismatches as { revision: string; path: string }[];
        assert.equal(mismatch?.revision, "k1");
        assert.match(mismatch.path, /k1\.sql$/);
        return true;
      },
    );
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["k1"]);
  });

  it("runs when the mismatch is explicitly allowed", async () => {
    await revisions.run({
      connectionString: db.url,
      operation: "upgrade",
      target: "head",
      allowChecksumMismatch: true,
    });
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["k2"]);
  });
});

describe("runner: lock_timeout", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  let blocker: pg.Client;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("l1"),
      {
        id: "l2",
        down: ["l1"],
        up: "ALTER TABLE t_l1 ADD COLUMN v int;",
        downgrade: "ALTER TABLE t_l1 DROP COLUMN v;",
      },
    ]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "l1" });
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  async function holdTableLock(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: db.url,
      application_name: "production-traffic",
    });
    await client.connect();
    await client.query("BEGIN");
    await client.query("LOCK TABLE t_l1 IN ACCESS SHARE MODE");
    return client;
  }

  it("gives up after the configured retries with SQLSTATE 55P03, every attempt in the history", async () => {
    blocker = await holdTableLock();
    try {
      await assert.rejects(
        revisions.run({
          connectionString: db.url,
          operation: "upgrade",
          target: "head",
          lockTimeoutMs: 50,
          lockTimeoutRetries: 2,
          sleep: noSleep,
        }),
        (error: FleetwayError) => {
          assert.equal(error.code, "MIGRATION_FAILED");
          assert.equal(error.data.sqlstate, "55P03");
          return true;
        },
      );
    } finally {
      await blocker.end();
    }
    const failures = (await readHistory({ connectionString: db.url })).filter((h) => !h.success);
    assert.equal(failures.length, 3);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["l1"]);
  });

  it("rolls back, backs off and retries; succeeds once production traffic lets go", async () => {
    blocker = await holdTableLock();
    const delays: number[] = [];
    const result = await revisions.run({
      connectionString: db.url,
      operation: "upgrade",
      target: "head",
      lockTimeoutMs: 50,
      lockTimeoutRetries: 5,
      random: () => 0.5,
      sleep: async (ms) => {
        delays.push(ms);
        if (delays.length === 2) await blocker.query("COMMIT");
      },
      onProgress: () => undefined,
    });
    await blocker.end();
    assert.equal(result.steps[0]?.attempts, 3);
    assert.equal(delays.length, 2);
    assert.ok((delays[1] ?? 0) > (delays[0] ?? 0), `backoff grows: ${delays.join(", ")}`);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["l2"]);
  });
});

describe("runner: a revision chosen as a deadlock's victim", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      { id: "d1", up: DEADLOCK_TABLES_SQL, downgrade: "DROP TABLE t_a, t_gate, t_b;" },
      tableRevision("d2", ["d1"]),
      { id: "d3", down: ["d2"], up: DEADLOCK_LOCKS, downgrade: "SELECT 1;" },
    ]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "d1" });
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  /** Upgrades to head through the deadlock, collecting the retries the run reports. */
  async function upgradeThroughDeadlock(transactionMode: "per-revision" | "all") {
    const retries: Extract<RunProgressEvent, { kind: "step-retrying" }>[] = [];
    const result = await runThroughDeadlock(db.url, () =>
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        transactionMode,
        lockTimeoutMs: 0,
        sleep: noSleep,
        onProgress: (event) => {
          if (event.kind === "step-retrying") retries.push(event);
        },
      }),
    );
    return { result, retries };
  }

  it("rolls it back and retries it as after a lock timeout; the retry commits", async () => {
    const { result, retries } = await upgradeThroughDeadlock("per-revision");
    assert.deepEqual(
      result.steps.map((s) => s.attempts),
      [1, 2],
    );
    assert.deepEqual(
      retries.map((r) => [
        r.index,
        r.retryFrom,
        r.attempt,
        r.cause,
        r.error.data.sqlstate,
        r.error.data.revision,
      ]),
      [[1, 1, 1, "deadlock", "40P01", "d3"]],
    );
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["d3"]);
    const d3 = (await readHistory({ connectionString: db.url }))
      .filter((h) => h.revision === "d3")
      .sort((x, y) => x.id - y.id);
    assert.deepEqual(
      d3.map((h) => [h.success, h.error?.sqlstate ?? null]),
      [
        [false, "40P01"],
        [true, null],
      ],
    );
  });

  it("in transaction mode all, rolls the whole run back and runs it again, the failure recorded", async () => {
    await revisions.run({ connectionString: db.url, operation: "downgrade", target: "d1" });
    const before = (await readHistory({ connectionString: db.url })).length;
    const { result, retries } = await upgradeThroughDeadlock("all");
    assert.deepEqual(
      result.steps.map((s) => s.attempts),
      [2, 2],
    );
    assert.deepEqual(
      retries.map((r) => [r.cause, r.error.data.sqlstate]),
      [["deadlock", "40P01"]],
    );
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["d3"]);
    assert.deepEqual((await db.query("SELECT count(*)::int AS n FROM t_d2")).rows, [{ n: 0 }]);
    const rows = (await readHistory({ connectionString: db.url }))
      .sort((x, y) => x.id - y.id)
      .slice(before);
    assert.deepEqual(
      rows.map((h) => [h.revision, h.success, h.error?.sqlstate ?? null, h.headsAfter]),
      [
        ["d3", false, "40P01", ["d1"]],
        ["d2", true, null, ["d2"]],
        ["d3", true, null, ["d3"]],
      ],
    );
  });
});

describe("runner: a non-transactional revision chosen as a deadlock's victim", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      {
        id: "e1",
        up: `${DEADLOCK_TABLES_SQL}\nCREATE TABLE t_runs (id int);`,
        downgrade: "DROP TABLE t_a, t_gate, t_b, t_runs;",
      },
      {
        id: "e2",
        down: ["e1"],
        transactional: false,
        // LOCK needs a transaction block: the DO statement is one, of its own.
        up: `INSERT INTO t_runs VALUES (1);\nDO $$ BEGIN ${DEADLOCK_LOCKS} END $$;`,
        downgrade: "DELETE FROM t_runs;",
      },
    ]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "e1" });
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("is run again from its first statement, as after a lock timeout", async () => {
    const causes: string[] = [];
    const result = await runThroughDeadlock(db.url, () =>
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        lockTimeoutMs: 0,
        sleep: noSleep,
        onProgress: (event) => {
          if (event.kind === "step-retrying") causes.push(event.cause);
        },
      }),
    );
    assert.equal(result.steps[0]?.attempts, 2);
    assert.deepEqual(causes, ["deadlock"]);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["e2"]);
    // The INSERT before the deadlocked statement had committed on its own; the retry ran it again.
    assert.deepEqual((await db.query("SELECT count(*)::int AS n FROM t_runs")).rows, [{ n: 2 }]);
  });
});

describe("runner: non-transactional revisions", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      {
        id: "n1",
        up: "CREATE TABLE t_n1 (id int, v int);\nINSERT INTO t_n1 VALUES (1, 1), (2, 1);",
        downgrade: "DROP TABLE t_n1;",
      },
      {
        id: "n2",
        down: ["n1"],
        transactional: false,
        up: "CREATE INDEX CONCURRENTLY t_n1_id_idx ON t_n1 (id);\nCREATE UNIQUE INDEX CONCURRENTLY t_n1_v_key ON t_n1 (v);",
        downgrade:
          "DROP INDEX CONCURRENTLY IF EXISTS t_n1_v_key;\nDROP INDEX CONCURRENTLY IF EXISTS t_n1_id_idx;",
      },
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  const indexes = async (): Promise<{ name: string; valid: boolean }[]> =>
    (
      await db.query(
        `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
          WHERE c.relname LIKE 't\\_n1\\_%' ORDER BY 1`,
      )
    ).rows as { name: string; valid: boolean }[];

  it("runs statement by statement outside a transaction (CREATE INDEX CONCURRENTLY works)", async () => {
    await assert.rejects(
      revisions.run({ connectionString: db.url, operation: "upgrade", target: "head" }),
      (error: FleetwayError) => {
        assert.equal(error.data.sqlstate, "23505");
        assert.equal(error.data.line, 8);
        return true;
      },
    );
    // The first index committed on its own; the failed unique one is left INVALID by PostgreSQL.
    assert.deepEqual(await indexes(), [
      { name: "t_n1_id_idx", valid: true },
      { name: "t_n1_v_key", valid: false },
    ]);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["n1"]);
  });

  it("the next attempt drops the INVALID index its revision creates instead of failing on it", async () => {
    await db.query("UPDATE t_n1 SET v = id");
    // The valid index from the first attempt would fail "already exists": the author makes the
    // revision re-runnable, as non-transactional revisions must be.
    await revisions.write({
      id: "n2",
      down: ["n1"],
      transactional: false,
      up: "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_n1_id_idx ON t_n1 (id);\nCREATE UNIQUE INDEX CONCURRENTLY t_n1_v_key ON t_n1 (v);",
      downgrade:
        "DROP INDEX CONCURRENTLY IF EXISTS t_n1_v_key;\nDROP INDEX CONCURRENTLY IF EXISTS t_n1_id_idx;",
    });
    const logs: string[] = [];
    await revisions.run({
      connectionString: db.url,
      operation: "upgrade",
      target: "head",
      onProgress: (e) => {
        if (e.kind === "log") logs.push(e.message);
      },
    });
    assert.deepEqual(logs, [
      "dropped INVALID index public.t_n1_v_key left by an earlier failed attempt",
    ]);
    assert.deepEqual(await indexes(), [
      { name: "t_n1_id_idx", valid: true },
      { name: "t_n1_v_key", valid: true },
    ]);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["n2"]);
    await revisions.run({ connectionString: db.url, operation: "downgrade", target: "-1" });
    assert.deepEqual(await indexes(), []);
  });
});

describe("runner: an INVALID index on a table outside the tenant's schema", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  const revision = (id: string) => ({
    id,
    transactional: false,
    // PostgreSQL puts an index in its table's schema; the index name cannot be qualified.
    up: 'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS shared_v_key ON "Shared".t (v);',
    downgrade: 'DROP INDEX CONCURRENTLY "Shared".shared_v_key;',
  });
  before(async () => {
    db = await createTestDatabase();
    await db.query('CREATE SCHEMA "Shared"');
    await db.query('CREATE TABLE "Shared".t (v int); INSERT INTO "Shared".t VALUES (1), (1)');
    revisions = await revisionDir([revision("s1")]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("is dropped before the revision runs again, in the table's schema", async () => {
    const run = () =>
      revisions.run({
        connectionString: db.url,
        schema: "tenant_a",
        operation: "upgrade",
        target: "head",
      });
    await assert.rejects(run(), { code: "MIGRATION_FAILED" });
    await db.query('DELETE FROM "Shared".t WHERE ctid <> (SELECT min(ctid) FROM "Shared".t)');
    // IF NOT EXISTS would keep the INVALID index and record the revision as applied.
    await run();
    const { rows } = await db.query(
      `SELECT i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'shared_v_key'`,
    );
    assert.deepEqual(rows, [{ valid: true }]);
  });
});

describe("runner: cancelling a non-transactional revision", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("k1"),
      {
        id: "k2",
        down: ["k1"],
        transactional: false,
        up: "CREATE INDEX CONCURRENTLY t_k1_a ON t_k1 (id);\nCREATE INDEX CONCURRENTLY t_k1_b ON t_k1 (id);",
        downgrade: "DROP INDEX CONCURRENTLY t_k1_b;\nDROP INDEX CONCURRENTLY t_k1_a;",
      },
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("is heard between its statements, not only while one runs", async () => {
    // The cancel comes while no statement of the revision runs yet: PostgreSQL's cancel has nothing
    // to cancel, so only the runner's own check before each statement can stop the revision.
    const controller = new AbortController();
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        signal: controller.signal,
        onProgress: (event) => {
          if (event.kind === "step-started" && event.step.kind === "revision")
            if (event.step.revision === "k2") controller.abort();
        },
      }),
      { code: "MIGRATION_CANCELLED" },
    );
    const { rows } = await db.query("SELECT relname FROM pg_class WHERE relname LIKE 't\\_k1\\_%'");
    assert.deepEqual(rows, []);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["k1"]);
  });
});

describe("runner: connection failures", () => {
  it("names the host and database but never the password", async () => {
    const revisions = await revisionDir([tableRevision("x1")]);
    try {
      await assert.rejects(
        revisions.run({
          connectionString: "postgres://fleetway:s3cret-pw@127.0.0.1:1/tenant_db",
          operation: "upgrade",
          target: "head",
        }),
        (error: FleetwayError) => {
          assert.equal(error.code, "CONNECTION_FAILED");
          assert.match(error.message, /127\.0\.0\.1:1\/tenant_db/);
          assert.doesNotMatch(JSON.stringify({ m: error.message, d: error.data }), /s3cret-pw/);
          return true;
        },
      );
    } finally {
      await revisions.remove();
    }
  });
});

describe("runner: cancelling a run whose tenant stopped answering mid-statement", () => {
  // The host hung, or a network link drops packets: PostgreSQL's cancel, sent over a new
  // connection, cannot reach the server either, and the statement's answer never comes.
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      {
        id: "z1",
        up: "CREATE TABLE t_z1 (id int);\nSELECT pg_sleep(30);",
        downgrade: "DROP TABLE t_z1;",
      },
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  /** Freezes the tenant while z1 runs, then cancels: what the run ends with, and how long after. */
  const cancelFrozen = async (
    schema: string,
    connections?: TenantConnections,
  ): Promise<{ outcome: unknown; afterCancelMs: number }> => {
    const proxy = await startFreezableProxy();
    const controller = new AbortController();
    let cancelledAt = 0;
    let timer: NodeJS.Timeout | undefined;
    try {
      const run = revisions.run({
        connectionString: proxy.through(db.url),
        // A schema per test: the first test's session keeps the tenant's lock until the server,
        // still running its statement, notices the connection is gone.
        schema,
        operation: "upgrade",
        target: "head",
        signal: controller.signal,
        ...(connections === undefined ? {} : { connections }),
        onProgress: (event) => {
          if (event.kind !== "step-started") return;
          setTimeout(() => {
            proxy.freeze();
            cancelledAt = Date.now();
            controller.abort();
          }, 300);
        },
      });
      const outcome = await Promise.race([
        run.then(
          () => "succeeded",
          (error: unknown) => error,
        ),
        new Promise((resolve) => {
          timer = setTimeout(() => {
            resolve("still waiting after 30 s");
          }, 30_000);
        }),
      ]);
      return { outcome, afterCancelMs: Date.now() - cancelledAt };
    } finally {
      clearTimeout(timer);
      await proxy.close();
    }
  };

  const assertCancelledInTime = (outcome: unknown, afterCancelMs: number): void => {
    assert.equal((outcome as FleetwayError).code, "MIGRATION_CANCELLED", String(outcome));
    assert.equal((outcome as FleetwayError).data.revision, "z1");
    assert.equal((outcome as FleetwayError).data.connectionLost, true);
    assert.ok(
      afterCancelMs < DROP_AFTER_CANCEL_MS + 3_000,
      `ended ${afterCancelMs} ms after the cancel`,
    );
  };

  it("a dedicated connection: rejects with MIGRATION_CANCELLED within a bounded time", async () => {
    const { outcome, afterCancelMs } = await cancelFrozen("dedicated");
    assertCancelledInTime(outcome, afterCancelMs);
  });

  it("a pooled connection: the same, and the dropped connection is not kept for reuse", async () => {
    const pooled = createPooledConnections({
      maxPerDatabase: 1,
      idleMs: 60_000,
      maxDatabases: 2,
      maxOpen: 2,
      applicationName: "fleetway-test-pool",
    });
    try {
      const { outcome, afterCancelMs } = await cancelFrozen("pooled", pooled);
      assertCancelledInTime(outcome, afterCancelMs);
      assert.equal(pooled.openConnections(), 0, "dropped, not kept for the next run");
    } finally {
      await pooled.close();
    }
  });
});
