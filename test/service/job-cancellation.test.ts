/**
 * Cancelling a job that has not started, by the API (cancelJob) or by the worker that finds its
 * cancel requested (runJobAttempt): the job ends cancelled and its job.cancelled event commits
 * with that outcome, never after it (a process stopping in between would leave a cancelled job
 * nobody was told about).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { listJobEvents } from "../../src/control/job-event-store.js";
import { getJob } from "../../src/control/job-store.js";
import { loadMigrations } from "../../src/engine/load-migrations.js";
import { createSecretBox } from "../../src/control/secret-box.js";
import { cancelJob } from "../../src/jobs/cancel-job.js";
import { runJobAttempt, type RunJobDeps } from "../../src/jobs/run-job.js";
import { JobEventPublisher } from "../../src/webhooks/job-event-publisher.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";
import { stoppingPool } from "../support/stopping-pool.js";

describe("a job cancelled before it started", () => {
  let control: ControlTestDatabase;

  before(async () => {
    control = await createControlTestDatabase();
  });
  after(async () => {
    await control.drop();
  });

  /** The pool of a process that stops right after the job is cancelled (committed). */
  const stoppingOnceCancelled = (jobId: string) =>
    stoppingPool(
      control.pool,
      async () => (await getJob(control.pool, jobId))?.state === "cancelled",
    );
  const eventTypes = async (jobId: string) =>
    (await listJobEvents(control.pool, jobId, { limit: 10 })).map((e) => e.type);

  it("by the API: cancelled with its job.cancelled event in one transaction", async () => {
    const jobId = await control.queuedJob();
    const silent = pino({ level: "silent" });
    const outcome = await cancelJob(
      {
        pool: stoppingOnceCancelled(jobId),
        events: new JobEventPublisher(null, silent),
        queue: { remove: () => Promise.resolve(1) },
      },
      jobId,
      { name: "ops" },
    ).catch(() => null);
    assert.equal(outcome?.kind, "cancelled");
    const job = await getJob(control.pool, jobId);
    assert.equal(job?.state, "cancelled");
    assert.equal(job.error?.message, "Cancelled before it started");
    assert.deepEqual(await eventTypes(jobId), ["job.queued", "job.cancelled"]);

    // Queued again after an attempt (its worker lost): the message does not claim nothing ran.
    const again = await control.queuedJob();
    await control.pool.query("UPDATE jobs SET attempts = 1 WHERE id = $1", [again]);
    await cancelJob(
      {
        pool: control.pool,
        events: new JobEventPublisher(null, silent),
        queue: { remove: () => Promise.resolve(1) },
      },
      again,
      { name: "ops" },
    );
    const requeued = await getJob(control.pool, again);
    assert.equal(requeued?.state, "cancelled");
    assert.match(String(requeued.error?.message), /^Cancelled before its next attempt/);
  });

  it("by the worker, once its cancel was requested: with its event in one statement", async () => {
    const jobId = await control.queuedJob();
    await control.pool.query("UPDATE jobs SET cancel_requested = true WHERE id = $1", [jobId]);
    const silent = pino({ level: "silent" });
    const deps: RunJobDeps = {
      pool: stoppingOnceCancelled(jobId),
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
    assert.equal(job.error.message, "Cancelled before it started");
    assert.deepEqual(await eventTypes(jobId), ["job.queued", "job.cancelled"]);

    // Re-queued after an attempt that may have applied revisions (its worker was lost): the
    // message does not claim nothing ran.
    const again = await control.queuedJob();
    await control.pool.query(
      "UPDATE jobs SET cancel_requested = true, attempts = 1 WHERE id = $1",
      [again],
    );
    await runJobAttempt(
      { ...deps, pool: control.pool },
      again,
      false,
      new AbortController().signal,
    );
    const requeued = await getJob(control.pool, again);
    assert.equal(requeued?.state, "cancelled");
    assert.match(String(requeued.error?.message), /^Cancelled before its next attempt/);
  });
});

describe("a job cancelled while the queue is about to retry it", () => {
  let control: ControlTestDatabase;

  before(async () => {
    control = await createControlTestDatabase();
  });
  after(async () => {
    await control.drop();
  });

  it("announces nothing after job.cancelled (no job.retrying after it)", async () => {
    const secretBox = createSecretBox(Buffer.alloc(32, 7));
    // Nothing listens there: connecting fails with CONNECTION_FAILED, which the queue retries.
    await control.pool.query("UPDATE tenants SET database_url_sealed = $1 WHERE id = 'acme'", [
      secretBox.encrypt("postgres://postgres@127.0.0.1:1/none"),
    ]);
    const jobId = await control.queuedJob();
    const silent = pino({ level: "silent" });
    const events = new JobEventPublisher(null, silent);
    // The worker's pool: once its statement has put the job back to queued for the retry, a
    // client's cancel (committed, with its job.cancelled) comes before the worker's next one.
    let cancelled = false;
    const pool = new Proxy(control.pool, {
      get: (target, property, receiver): unknown =>
        property === "query"
          ? async (text: string, values?: unknown[]) => {
              const result = await target.query(text, values);
              if (!cancelled && (await getJob(target, jobId))?.phase === "retrying") {
                const current = await getJob(target, jobId);
                if (current?.state === "queued") {
                  cancelled = true;
                  const outcome = await cancelJob(
                    { pool: target, events, queue: { remove: () => Promise.resolve(1) } },
                    jobId,
                    { name: "ops" },
                  );
                  assert.equal(outcome.kind, "cancelled");
                }
              }
              return result;
            }
          : Reflect.get(target, property, receiver),
    });
    const deps: RunJobDeps = {
      pool,
      migrations: await loadMigrations(new URL("../../migrations", import.meta.url).pathname),
      secretBox,
      logger: silent,
      migration: {
        lockTimeoutMs: 1000,
        statementTimeoutMs: 0,
        lockTimeoutRetries: 0,
        advisoryLockTimeoutMs: 1000,
      },
      heartbeatMs: 60_000,
      workerId: "worker-1",
      events,
    };
    const outcome = await runJobAttempt(deps, jobId, false, new AbortController().signal);
    assert.equal(outcome.kind, "retry");
    assert.ok(cancelled, "the cancel came while the job was queued for its retry");

    const job = await getJob(control.pool, jobId);
    assert.equal(job?.state, "cancelled");
    const types = (await listJobEvents(control.pool, jobId, { limit: 50 })).map((e) => e.type);
    assert.equal(types.at(-1), "job.cancelled", `events: ${types.join(", ")}`);
    assert.equal(types.filter((t) => t === "job.cancelled").length, 1);
  });
});
