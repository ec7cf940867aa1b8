/**
 * writeJobProgress: a worker's progress flush in one statement. Events keep their order and get
 * consecutive sequence numbers, each with the subscriptions that asked for its type; the progress
 * only applies while the job runs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type pg from "pg";
import { listJobEvents } from "../../src/control/job-event-store.js";
import { finishJobWithEvents, writeJobProgress } from "../../src/control/job-progress-store.js";
import { claimJobForRun } from "../../src/control/claim-job.js";
import { finishJob, getJob } from "../../src/control/job-store.js";
import { getTenant, updateTenant } from "../../src/control/tenant-store.js";
import { disableSubscription, insertSubscription } from "../../src/control/webhook-store.js";
import { WEBHOOK_EVENT_TYPES } from "../../src/webhooks/job-event-publisher.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";

/** An enabled webhook subscription for `eventTypes`. */
function subscribe(
  db: pg.Pool,
  urlSealed: string,
  urlMasked: string,
  eventTypes: string[],
): ReturnType<typeof insertSubscription> {
  return insertSubscription(db, {
    urlSealed,
    urlMasked,
    eventTypes,
    description: null,
    secretSealed: "s",
  });
}

describe("writeJobProgress", () => {
  let control: ControlTestDatabase;
  let pool: pg.Pool;
  let jobId: string;

  before(async () => {
    control = await createControlTestDatabase();
    pool = control.pool;
    jobId = await control.queuedJob();
    await claimJobForRun(pool, jobId, "worker-1");
  });
  after(async () => {
    await control.drop();
  });

  it("appends several events in order with consecutive numbers and their subscribers", async () => {
    const progressHook = await subscribe(pool, "sealed-a", "https://a.example/hook", [
      "job.progress",
    ]);
    const disabledOrOther = await subscribe(pool, "sealed-b", "https://b.example/hook", [
      "job.succeeded",
    ]);
    const appended = await writeJobProgress(
      pool,
      jobId,
      { phase: "migrating", stepsDone: 2, stepsTotal: 3 },
      [
        { type: "job.started", data: { n: 1 } },
        { type: "job.progress", data: { n: 2 } },
        { type: "job.log", data: { n: 3 } },
        { type: "job.progress", data: { n: 4 } },
      ],
      WEBHOOK_EVENT_TYPES,
    );
    assert.deepEqual(
      appended.map((e) => [e.seq, e.type, e.data.n, e.subscribers.map((s) => s.id)]),
      [
        [3, "job.started", 1, []],
        [4, "job.progress", 2, [progressHook.id]],
        [5, "job.log", 3, []],
        [6, "job.progress", 4, [progressHook.id]],
      ],
    );
    assert.equal(appended[1]?.subscribers[0]?.urlSealed, "sealed-a");
    assert.ok(!appended.some((e) => e.subscribers.some((s) => s.id === disabledOrOther.id)));

    const stored = (await listJobEvents(pool, jobId, { limit: 10 })).slice(2); // after job.queued and job.running
    assert.deepEqual(
      stored.map((e) => [e.seq, e.type, e.data.n]),
      [
        [3, "job.started", 1],
        [4, "job.progress", 2],
        [5, "job.log", 3],
        [6, "job.progress", 4],
      ],
    );
    const job = await getJob(pool, jobId);
    assert.equal(job?.phase, "migrating");
    assert.equal(job.stepsDone, 2);
    assert.equal(job.stepsTotal, 3);
  });

  it("goes on numbering after events appended one at a time", async () => {
    const one = await writeJobProgress(pool, jobId, {}, [{ type: "job.log", data: {} }], []);
    assert.deepEqual(
      one.map((e) => e.seq),
      [7],
    );
  });

  it("leaves a job that is no longer running as it is, and appends no events after its end", async () => {
    await finishJob(pool, jobId, { state: "cancelled", error: null });
    const appended = await writeJobProgress(
      pool,
      jobId,
      { phase: "migrating", stepsDone: 3 },
      [{ type: "job.log", data: { late: true } }],
      WEBHOOK_EVENT_TYPES,
    );
    assert.deepEqual(appended, []);
    const job = await getJob(pool, jobId);
    assert.equal(job?.state, "cancelled");
    assert.equal(job.phase, null);
    assert.equal(job.stepsDone, 2);
    const types = (await listJobEvents(pool, jobId, { limit: 20 })).map((e) => e.type);
    assert.equal(types.at(-1), "job.log", "nothing after the end (finishJob appends no event)");
    assert.equal(types.length, 7);
  });

  it("does nothing for a job that does not exist", async () => {
    const appended = await writeJobProgress(
      pool,
      "00000000-0000-4000-8000-000000000000",
      { phase: "migrating" },
      [{ type: "job.log", data: {} }],
      [],
    );
    assert.deepEqual(appended, []);
  });
});

describe("claimJobForRun", () => {
  let control: ControlTestDatabase;
  let pool: pg.Pool;

  before(async () => {
    control = await createControlTestDatabase();
    pool = control.pool;
  });
  after(async () => {
    await control.drop();
  });

  const newJob = (): Promise<string> => control.queuedJob();

  it("marks the job running, returns its tenant, and logs job.running on the first attempt only", async () => {
    const id = await newJob();
    const first = await claimJobForRun(pool, id, "worker-1");
    assert.equal(first?.job.state, "running");
    assert.equal(first.job.attempts, 1);
    assert.equal(first.job.workerId, "worker-1");
    assert.deepEqual(first.tenant, { id: "acme", databaseUrlSealed: "sealed-url", schema: "acme" });

    // A crashed attempt's job is claimed again (BullMQ re-delivers it): no second job.running.
    const second = await claimJobForRun(pool, id, "worker-2");
    assert.equal(second?.job.attempts, 2);
    const events = await listJobEvents(pool, id, { limit: 10 });
    assert.deepEqual(
      events.map((e) => [e.seq, e.type, e.data.workerId]),
      [
        [1, "job.queued", undefined],
        [2, "job.running", "worker-1"],
      ],
    );
    await finishJob(pool, id, { state: "succeeded", error: null });
  });

  it("does not claim a finished job or one whose cancel was requested", async () => {
    const finished = await newJob();
    await claimJobForRun(pool, finished, "worker-1");
    await finishJob(pool, finished, { state: "succeeded", error: null });
    assert.equal(await claimJobForRun(pool, finished, "worker-1"), null);

    const cancelled = await newJob();
    await pool.query("UPDATE jobs SET cancel_requested = true WHERE id = $1", [cancelled]);
    assert.equal(await claimJobForRun(pool, cancelled, "worker-1"), null);
    assert.equal((await getJob(pool, cancelled))?.state, "queued");
    await finishJob(pool, cancelled, { state: "cancelled", error: null });
  });

  it("tells whether enabled subscriptions ask for job events or tenant.ready", async () => {
    const subscribedNow = async (): Promise<unknown> => {
      const id = await newJob();
      const claimed = await claimJobForRun(pool, id, "worker-1");
      await finishJob(pool, id, { state: "succeeded", error: null });
      return claimed?.subscribed;
    };
    assert.deepEqual(await subscribedNow(), { jobEvents: false, tenantReady: false });
    await subscribe(pool, "sealed-rollouts", "https://rollouts.example/hook", ["rollout.halted"]);
    assert.deepEqual(await subscribedNow(), { jobEvents: false, tenantReady: false });
    const ready = await subscribe(pool, "sealed-ready", "https://ready.example/hook", [
      "tenant.ready",
    ]);
    assert.deepEqual(await subscribedNow(), { jobEvents: false, tenantReady: true });
    await disableSubscription(pool, ready.id, "test");
    assert.deepEqual(await subscribedNow(), { jobEvents: false, tenantReady: false });
    await subscribe(pool, "sealed-jobs", "https://jobs.example/hook", ["job.failed"]);
    assert.deepEqual(await subscribedNow(), { jobEvents: true, tenantReady: false });
  });
});

/** Where control-database.ts registers `acme`. */
const WHERE_ACME_RUNS = { databaseUrlSealed: "sealed-url", schema: "acme" };

describe("finishJobWithEvents", () => {
  let control: ControlTestDatabase;

  before(async () => {
    control = await createControlTestDatabase();
  });
  after(async () => {
    await control.drop();
  });

  it("finishes the job and appends the last events after the others, with their subscribers", async () => {
    const id = await control.queuedJob();
    await claimJobForRun(control.pool, id, "worker-1");
    const hook = await subscribe(control.pool, "sealed-done", "https://done.example/hook", [
      "job.succeeded",
    ]);
    const { job, appended } = await finishJobWithEvents(
      control.pool,
      id,
      { state: "succeeded", toHeads: ["r1"], error: null },
      { fromHeads: [], stepsTotal: 1, stepsDone: 1 },
      [
        { type: "job.progress", data: { n: 1 } },
        { type: "job.succeeded", data: { toHeads: ["r1"] } },
      ],
      WEBHOOK_EVENT_TYPES,
    );
    assert.equal(job?.state, "succeeded");
    assert.deepEqual(job.toHeads, ["r1"]);
    assert.notEqual(job.finishedAt, null);
    // The worker's last progress, never written on its own, lands with the outcome.
    assert.deepEqual([job.fromHeads, job.stepsTotal, job.stepsDone], [[], 1, 1]);
    assert.deepEqual(
      appended.map((e) => [e.seq, e.type, e.data, e.subscribers.map((s) => s.id)]),
      [
        [3, "job.progress", { n: 1 }, []],
        [4, "job.succeeded", { toHeads: ["r1"] }, [hook.id]],
      ],
    );
    const events = await listJobEvents(control.pool, id, { limit: 10 });
    assert.deepEqual(
      events.map((e) => [e.seq, e.type]),
      [
        [1, "job.queued"],
        [2, "job.running"],
        [3, "job.progress"],
        [4, "job.succeeded"],
      ],
    );
  });

  it("records a failed or cancelled job's heads without making the tenant ready; unknown ones are cleared", async () => {
    const wantsReady = await subscribe(control.pool, "sealed-r", "https://r.example/hook", [
      "tenant.ready",
    ]);
    const end = async (state: "failed" | "cancelled", heads: string[] | null) => {
      const id = await control.queuedJob();
      await claimJobForRun(control.pool, id, "worker-1");
      return finishJobWithEvents(
        control.pool,
        id,
        { state, error: { code: "MIGRATION_FAILED" } },
        {},
        [{ type: `job.${state}`, data: {} }],
        WEBHOOK_EVENT_TYPES,
        { tenantId: "acme", heads, ...WHERE_ACME_RUNS },
      );
    };
    assert.equal((await getTenant(control.pool, "acme"))?.readyAt, null);
    const failed = await end("failed", ["r2"]);
    assert.equal(failed.job?.state, "failed");
    assert.equal(failed.ready, null);
    let tenant = await getTenant(control.pool, "acme");
    assert.deepEqual([tenant?.heads, tenant?.readyAt], [["r2"], null]);
    assert.notEqual(tenant?.headsSeenAt, null);

    assert.equal((await end("cancelled", ["r1"])).ready, null);
    assert.deepEqual((await getTenant(control.pool, "acme"))?.heads, ["r1"]);

    // A lost connection may have committed the step in flight: the heads are not known.
    await end("failed", null);
    tenant = await getTenant(control.pool, "acme");
    assert.deepEqual([tenant?.heads, tenant?.headsSeenAt, tenant?.readyAt], [null, null, null]);
    await disableSubscription(control.pool, wantsReady.id, "test");
  });

  it("records a success's heads with it, and the tenant's first success once", async () => {
    const wantsReady = await subscribe(control.pool, "sealed-ready", "https://ready.example/hook", [
      "tenant.ready",
      "job.failed",
    ]);
    await subscribe(control.pool, "sealed-other", "https://other.example/hook", ["job.cancelled"]);
    const succeed = async (heads: string[]) => {
      const id = await control.queuedJob();
      await claimJobForRun(control.pool, id, "worker-1");
      return finishJobWithEvents(
        control.pool,
        id,
        { state: "succeeded", toHeads: heads, error: null },
        {},
        [{ type: "job.succeeded", data: {} }],
        WEBHOOK_EVENT_TYPES,
        { tenantId: "acme", heads, ...WHERE_ACME_RUNS },
      );
    };
    const first = await succeed(["r1"]);
    assert.equal(first.job?.state, "succeeded");
    assert.deepEqual(first.ready, {
      subscribers: [
        { id: wantsReady.id, urlSealed: "sealed-ready", urlMasked: "https://ready.example/hook" },
      ],
    });
    const tenant = await getTenant(control.pool, "acme");
    assert.deepEqual(tenant?.heads, ["r1"]);
    assert.notEqual(tenant.readyAt, null);

    const second = await succeed(["r2"]);
    assert.equal(second.ready, null);
    assert.deepEqual((await getTenant(control.pool, "acme"))?.heads, ["r2"]);
  });

  it("leaves the heads unknown of a tenant moved to another schema while its job ran", async () => {
    const id = await control.queuedJob();
    await claimJobForRun(control.pool, id, "worker-1");
    await updateTenant(control.pool, "acme", { schema: "acme_moved" });
    const finished = await finishJobWithEvents(
      control.pool,
      id,
      { state: "succeeded", toHeads: ["r7"], error: null },
      {},
      [{ type: "job.succeeded", data: {} }],
      WEBHOOK_EVENT_TYPES,
      { tenantId: "acme", heads: ["r7"], ...WHERE_ACME_RUNS },
    );
    assert.equal(finished.job?.state, "succeeded");
    // Moving the tenant cleared what was known of its version table; the job ran elsewhere.
    assert.equal((await getTenant(control.pool, "acme"))?.heads, null);
    await updateTenant(control.pool, "acme", { schema: WHERE_ACME_RUNS.schema });
  });

  it("leaves the tenant's heads alone when another attempt finished the job", async () => {
    const id = await control.queuedJob();
    await claimJobForRun(control.pool, id, "worker-1");
    await finishJob(control.pool, id, { state: "succeeded", toHeads: ["r9"], error: null });
    const before = await getTenant(control.pool, "acme");
    const stale = await finishJobWithEvents(
      control.pool,
      id,
      { state: "succeeded", toHeads: ["r0"], error: null },
      {},
      [{ type: "job.succeeded", data: {} }],
      WEBHOOK_EVENT_TYPES,
      { tenantId: "acme", heads: ["r0"], ...WHERE_ACME_RUNS },
    );
    assert.deepEqual(stale, { job: null, appended: [], ready: null });
    assert.deepEqual((await getTenant(control.pool, "acme"))?.heads, before?.heads);
  });

  it("leaves a job another attempt finished as it is, without events", async () => {
    const id = await control.queuedJob();
    await claimJobForRun(control.pool, id, "worker-1");
    await finishJob(control.pool, id, { state: "failed", error: { code: "X" } });
    const result = await finishJobWithEvents(
      control.pool,
      id,
      { state: "succeeded", error: null },
      {},
      [{ type: "job.succeeded", data: {} }],
      WEBHOOK_EVENT_TYPES,
    );
    assert.deepEqual(result, { job: null, appended: [], ready: null });
    assert.equal((await getJob(control.pool, id))?.state, "failed");
    const events = await listJobEvents(control.pool, id, { limit: 10 });
    assert.deepEqual(
      events.map((e) => e.type),
      ["job.queued", "job.running"],
    );
  });
});
