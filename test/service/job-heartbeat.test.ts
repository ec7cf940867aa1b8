/**
 * A running job's heartbeat while the control database does not answer: one heartbeat waits,
 * and the next is sent only once it has gone unanswered for three intervals. Sent on a timer
 * regardless, they queued up in the pool (one per interval for as long as the outage lasted) and
 * all ran at once when it ended; never sent again, one lost on a dead connection hid every later
 * cancel request.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type pg from "pg";
import { pino } from "pino";
import { getJob, insertJob, requestCancel } from "../../src/control/job-store.js";
import { createSecretBox } from "../../src/control/secret-box.js";
import { insertTenant } from "../../src/control/tenant-store.js";
import { runJobAttempt } from "../../src/jobs/run-job.js";
import { JobEventPublisher } from "../../src/webhooks/job-event-publisher.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";
import { revisionDir, type RevisionDir } from "../support/revision-fixtures.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

const HEARTBEAT_SQL = /^UPDATE jobs SET heartbeat_at/;
const HEARTBEAT_MS = 20;

/**
 * `pool` whose first `hanging` heartbeat statements never answer, as a control database that
 * went away (or a pooled connection that died silently); the others go through.
 */
function heartbeatsHang(
  pool: pg.Pool,
  hanging = Infinity,
): { pool: pg.Pool; heartbeats: () => number } {
  let heartbeats = 0;
  const proxy = new Proxy(pool, {
    get: (target, property, receiver): unknown => {
      if (property !== "query") return Reflect.get(target, property, receiver);
      return (text: string, values?: unknown[]) => {
        if (HEARTBEAT_SQL.test(text)) {
          heartbeats += 1;
          if (heartbeats <= hanging) return new Promise(() => undefined);
        }
        return target.query(text, values);
      };
    },
  });
  return { pool: proxy, heartbeats: () => heartbeats };
}

describe("a running job's heartbeat", () => {
  let control: ControlTestDatabase;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  const box = createSecretBox(Buffer.alloc(32, 3));

  before(async () => {
    control = await createControlTestDatabase();
    tenantDb = await createTestDatabase();
    revisions = await revisionDir([{ id: "a1", up: "SELECT pg_sleep(0.5);" }]);
    await insertTenant(control.pool, {
      id: "slow",
      name: "Slow",
      tags: [],
      databaseUrlSealed: box.encrypt(tenantDb.url),
      databaseUrlMasked: "postgres://db/slow",
      schema: "slow",
    });
  });
  after(async () => {
    await revisions.remove();
    await tenantDb.drop();
    await control.drop();
  });

  const runWith = async (pool: pg.Pool, jobId: string) => {
    const silent = pino({ level: "silent" });
    return runJobAttempt(
      {
        pool,
        migrations: await revisions.load(),
        secretBox: box,
        logger: silent,
        migration: {
          lockTimeoutMs: 1000,
          statementTimeoutMs: 0,
          lockTimeoutRetries: 0,
          advisoryLockTimeoutMs: 1000,
        },
        // Some 25 intervals pass while the revision sleeps.
        heartbeatMs: HEARTBEAT_MS,
        workerId: "worker-1",
        events: new JobEventPublisher(null, silent),
      },
      jobId,
      false,
      new AbortController().signal,
    );
  };
  const newJob = async (tenantId: string) =>
    (
      await insertJob(
        control.pool,
        { tenantId, operation: "upgrade", target: "head", transactionMode: "per-revision" },
        {},
      )
    ).job.id;

  it("sends the next one only after the one in flight went unanswered for three intervals", async () => {
    const jobId = await newJob("slow");
    const hanging = heartbeatsHang(control.pool);
    const started = Date.now();
    const outcome = await runWith(hanging.pool, jobId);
    const elapsed = Date.now() - started;
    assert.equal(outcome.kind, "finished");
    assert.equal((await getJob(control.pool, jobId))?.state, "succeeded");
    // At most one per three intervals, however late the timer fires (one per interval before).
    const allowed = Math.floor(elapsed / (3 * HEARTBEAT_MS)) + 1;
    assert.ok(
      hanging.heartbeats() <= allowed,
      `${hanging.heartbeats()} heartbeats in ${elapsed} ms, at most ${allowed} expected`,
    );
  });

  it("still sees a cancel request when one heartbeat was lost on a dead connection", async () => {
    await insertTenant(control.pool, {
      id: "slow2",
      name: "Slow 2",
      tags: [],
      databaseUrlSealed: box.encrypt(tenantDb.url),
      databaseUrlMasked: "postgres://db/slow2",
      schema: "slow2",
    });
    const jobId = await newJob("slow2");
    const firstHangs = heartbeatsHang(control.pool, 1);
    const cancelling = setTimeout(() => void requestCancel(control.pool, jobId), 150);
    try {
      const outcome = await runWith(firstHangs.pool, jobId);
      assert.equal(outcome.kind, "finished");
    } finally {
      clearTimeout(cancelling);
    }
    const job = await getJob(control.pool, jobId);
    assert.equal(job?.state, "cancelled", JSON.stringify(job?.error));
  });
});
