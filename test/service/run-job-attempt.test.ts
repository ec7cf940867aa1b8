/**
 * runJobAttempt on a job whose cancel was requested before any worker claimed it: the worker
 * finishes it as cancelled, and the job.cancelled event is written with that outcome, never
 * after it (a worker stopping in between would leave a cancelled job nobody was told about).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type pg from "pg";
import { pino } from "pino";
import { listJobEvents } from "../../src/control/job-event-store.js";
import { getJob } from "../../src/control/job-store.js";
import { loadMigrations } from "../../src/engine/load-migrations.js";
import { createSecretBox } from "../../src/control/secret-box.js";
import { runJobAttempt, type RunJobDeps } from "../../src/jobs/run-job.js";
import { JobEventPublisher } from "../../src/webhooks/job-event-publisher.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";

/**
 * The pool as a worker that stops for good right after the statement that made job `jobId`
 * cancelled: every later statement fails.
 */
function stoppingOnceCancelled(pool: pg.Pool, jobId: string): pg.Pool {
  let stopped = false;
  const query = async (text: string, values?: unknown[]): Promise<pg.QueryResult> => {
    if (stopped) throw new Error("worker stopped");
    const result = await pool.query(text, values);
    if ((await getJob(pool, jobId))?.state === "cancelled") stopped = true;
    return result;
  };
  return new Proxy(pool, {
    get: (target, property, receiver): unknown =>
      property === "query" ? query : Reflect.get(target, property, receiver),
  });
}

describe("runJobAttempt: a job cancelled before it started", () => {
  let control: ControlTestDatabase;

  before(async () => {
    control = await createControlTestDatabase();
  });
  after(async () => {
    await control.drop();
  });

  it("is finished cancelled with its job.cancelled event in the same statement", async () => {
    const jobId = await control.queuedJob();
    await control.pool.query("UPDATE jobs SET cancel_requested = true WHERE id = $1", [jobId]);
    const silent = pino({ level: "silent" });
    const deps: RunJobDeps = {
      pool: stoppingOnceCancelled(control.pool, jobId),
      // Any set: a job cancelled before it started runs nothing.
      migrations: await loadMigrations(new URL("../../migrations", import.meta.url).pathname),
      secretBox: createSecretBox(Buffer.alloc(32, 7)),
      logger: silent,
      migration: {
        lockTimeoutMs: 1000,
        statementTimeoutMs: 0,
        lockTimeoutRetries: 0,
        advisoryLockTimeoutMs: 1000,
      },
      heartbeatMs: 60_000,
      workerId: "worker-1",
      events: new JobEventPublisher(null, silent),
    };
    // Whether the attempt itself gets to return depends on what comes after the outcome.
    await runJobAttempt(deps, jobId, false, new AbortController().signal).catch(() => undefined);

    const job = await getJob(control.pool, jobId);
    assert.equal(job?.state, "cancelled");
    assert.equal(job.error?.code, "MIGRATION_CANCELLED");
    const events = await listJobEvents(control.pool, jobId, { limit: 10 });
    assert.deepEqual(
      events.map((e) => e.type),
      ["job.queued", "job.cancelled"],
    );
  });
});
