/**
 * Transaction mode `all` retries the run's whole transaction after a lock timeout or a deadlock:
 * the locks of the steps before the one that failed are part of the conflict (and a backoff spent
 * holding them would block the traffic it yields to), so only a rollback of all of them lets the
 * other session finish. Also when the conflict comes at the run's COMMIT (a deferred constraint's
 * check). Every failed attempt leaves its history row.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { ErrorCode, FleetwayError } from "../../src/engine/errors.js";
import {
  readCurrentHeads,
  readHistory,
  type RunProgressEvent,
} from "../../src/engine/runner/run-migration.js";
import {
  DEADLOCK_FIRST_LOCK,
  DEADLOCK_LATER_LOCKS,
  DEADLOCK_TABLES_SQL,
  runThroughDeadlock,
} from "../support/deadlock-peer.js";
import { revisionDir, type RevisionDir } from "../support/revision-fixtures.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

type Retrying = Extract<RunProgressEvent, { kind: "step-retrying" }>;

const noSleep = (): Promise<void> => Promise.resolve();

describe("runner: transaction mode all, a deadlock through an earlier step's lock", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      { id: "g1", up: DEADLOCK_TABLES_SQL, downgrade: "DROP TABLE t_a, t_gate, t_b;" },
      // g2 locks t_a and g3 the rest: the peer waits for g2's lock while g3 waits for the peer.
      { id: "g2", down: ["g1"], up: DEADLOCK_FIRST_LOCK, downgrade: "SELECT 1;" },
      { id: "g3", down: ["g2"], up: DEADLOCK_LATER_LOCKS, downgrade: "SELECT 1;" },
    ]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "g1" });
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("rolls the whole run back, runs every step again and commits; the failure is recorded", async () => {
    const retries: Retrying[] = [];
    const started: [string, number][] = [];
    const result = await runThroughDeadlock(db.url, () =>
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        transactionMode: "all",
        lockTimeoutMs: 0,
        // One retry: a retry that kept g2's lock would be the victim again.
        lockTimeoutRetries: 1,
        sleep: noSleep,
        onProgress: (event) => {
          if (event.kind === "step-retrying") retries.push(event);
          if (event.kind === "step-started" && event.step.kind === "revision")
            started.push([event.step.revision, event.attempt]);
        },
      }),
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
      [[1, 0, 1, "deadlock", "40P01", "g3"]],
    );
    assert.deepEqual(started, [
      ["g2", 1],
      ["g3", 1],
      ["g2", 2],
      ["g3", 2],
    ]);
    assert.deepEqual(
      result.steps.map((s) => s.attempts),
      [2, 2],
    );
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["g3"]);
    const history = (await readHistory({ connectionString: db.url }))
      .filter((h) => h.revision !== "g1")
      .sort((x, y) => x.id - y.id);
    assert.deepEqual(
      history.map((h) => [h.revision, h.success, h.error?.sqlstate ?? null, h.headsAfter]),
      [
        ["g3", false, "40P01", ["g1"]],
        ["g2", true, null, ["g2"]],
        ["g3", true, null, ["g3"]],
      ],
    );
  });
});

describe("runner: transaction mode all, a lock timeout at COMMIT", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      {
        id: "k1",
        up: `CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent VALUES (1);
CREATE TABLE child (parent_id int REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);`,
        downgrade: "DROP TABLE child; DROP TABLE parent;",
      },
      // The foreign key's check, deferred to COMMIT, locks the parent row (FOR KEY SHARE).
      {
        id: "k2",
        down: ["k1"],
        up: "INSERT INTO child VALUES (1);",
        downgrade: "DELETE FROM child;",
      },
    ]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "k1" });
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("is rolled back and retried as a step's lock timeout is; the retry commits", async () => {
    const traffic = new pg.Client({ connectionString: db.url, application_name: "traffic" });
    await traffic.connect();
    const retries: Retrying[] = [];
    try {
      await traffic.query("BEGIN; SELECT id FROM parent WHERE id = 1 FOR UPDATE");
      const result = await revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        transactionMode: "all",
        lockTimeoutMs: 50,
        lockTimeoutRetries: 1,
        sleep: async () => {
          await traffic.query("COMMIT");
        },
        onProgress: (event) => {
          if (event.kind === "step-retrying") retries.push(event);
        },
      });
      assert.deepEqual(
        result.steps.map((s) => s.attempts),
        [2],
      );
    } finally {
      await traffic.end();
    }
    assert.deepEqual(
      retries.map((r) => [r.attempt, r.cause, r.error.data.sqlstate, r.error.data.commit]),
      [[1, "lock-timeout", "55P03", true]],
    );
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["k2"]);
    const k2 = (await readHistory({ connectionString: db.url }))
      .filter((h) => h.revision === "k2")
      .sort((x, y) => x.id - y.id);
    assert.deepEqual(
      k2.map((h) => [h.success, h.error?.sqlstate ?? null, h.error?.commit ?? null]),
      [
        [false, "55P03", true],
        [true, null, null],
      ],
    );
  });

  it("a session lost during the retry's backoff fails the run as the step's failure, not unexplained", async () => {
    await revisions.run({ connectionString: db.url, operation: "downgrade", target: "k1" });
    const traffic = new pg.Client({ connectionString: db.url, application_name: "traffic" });
    await traffic.connect();
    try {
      await traffic.query("BEGIN; SELECT id FROM parent WHERE id = 1 FOR UPDATE");
      const run = revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        transactionMode: "all",
        lockTimeoutMs: 50,
        lockTimeoutRetries: 1,
        // A failover while the run backs off: its idle session is gone when it begins again.
        sleep: async () => {
          await traffic.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND pid <> pg_backend_pid()`,
          );
          await traffic.query("COMMIT");
        },
      });
      await assert.rejects(run, (error: unknown) => {
        assert.ok(error instanceof FleetwayError, String(error));
        assert.equal(error.code, ErrorCode.MIGRATION_FAILED);
        assert.equal(error.data.revision, "k2");
        return true;
      });
    } finally {
      await traffic.end();
    }
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["k1"]);
  });
});
