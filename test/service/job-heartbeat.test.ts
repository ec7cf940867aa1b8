/**
 * A running job's heartbeat while the control database does not answer: one heartbeat waits,
 * the next ones are skipped. Sent on a timer regardless, they queued up in the pool (one per
 * interval for as long as the outage lasted) and all ran at once when it ended.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type pg from "pg";
import { pino } from "pino";
import { getJob, insertJob } from "../../src/control/job-store.js";
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

/** `pool` whose heartbeat statements never answer, as a control database that went away. */
function heartbeatsHang(pool: pg.Pool): { pool: pg.Pool; heartbeats: () => number } {
  let heartbeats = 0;
  const proxy = new Proxy(pool, {
    get: (target, property, receiver): unknown => {
      if (property !== "query") return Reflect.get(target, property, receiver);
      return (text: string, values?: unknown[]) => {
        if (HEARTBEAT_SQL.test(text)) {
          heartbeats += 1;
          return new Promise(() => undefined);
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

  it("waits for the one in flight instead of piling up more", async () => {
    const { job } = await insertJob(
      control.pool,
      { tenantId: "slow", operation: "upgrade", target: "head", transactionMode: "per-revision" },
      {},
    );
    const silent = pino({ level: "silent" });
    const hanging = heartbeatsHang(control.pool);
    const outcome = await runJobAttempt(
      {
        pool: hanging.pool,
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
        heartbeatMs: 20,
        workerId: "worker-1",
        events: new JobEventPublisher(null, silent),
      },
      job.id,
      false,
      new AbortController().signal,
    );
    assert.equal(outcome.kind, "finished");
    assert.equal((await getJob(control.pool, job.id))?.state, "succeeded");
    assert.equal(hanging.heartbeats(), 1);
  });
});
