/**
 * A job's events and their webhook deliveries commit together when deliveries are expected: a
 * worker stopping right after an event commits must not leave it without the deliveries it
 * needs, since nothing would create them later (the reconciler only re-enqueues recorded ones).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { getJob, insertJob } from "../../src/control/job-store.js";
import { createSecretBox } from "../../src/control/secret-box.js";
import { insertTenant } from "../../src/control/tenant-store.js";
import { insertSubscription } from "../../src/control/webhook-store.js";
import { loadMigrations, type Migrations } from "../../src/engine/load-migrations.js";
import { runJobAttempt, type RunJobDeps } from "../../src/jobs/run-job.js";
import { JobEventPublisher } from "../../src/webhooks/job-event-publisher.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";
import { stoppingPool } from "../support/stopping-pool.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

const secretBox = createSecretBox(Buffer.alloc(32, 9));
const silent = pino({ level: "silent" });

describe("job events and their webhook deliveries", () => {
  let control: ControlTestDatabase;
  let tenantDb: TestDatabase;
  let migrations: Migrations;
  let tenants = 0;

  before(async () => {
    control = await createControlTestDatabase();
    tenantDb = await createTestDatabase();
    migrations = await loadMigrations(new URL("../../migrations", import.meta.url).pathname);
    await insertSubscription(control.pool, {
      urlSealed: secretBox.encrypt("https://hooks.example.com/fleetway"),
      urlMasked: "https://hooks.example.com/…",
      eventTypes: ["job.started", "job.succeeded", "tenant.ready"],
      description: null,
      secretSealed: secretBox.encrypt("whsec_dGVzdA=="),
    });
  });
  after(async () => {
    await control.drop();
    await tenantDb.drop();
  });

  /** A new tenant (a schema of the tenant database) with a queued upgrade to head. */
  async function queuedJobForNewTenant(): Promise<string> {
    const id = `t${String(++tenants)}`;
    await insertTenant(control.pool, {
      id,
      name: id,
      tags: [],
      databaseUrlSealed: secretBox.encrypt(tenantDb.url),
      databaseUrlMasked: "postgres://tenant",
      schema: id,
    });
    const { job } = await insertJob(
      control.pool,
      { tenantId: id, operation: "upgrade", target: "head", transactionMode: "per-revision" },
      {},
    );
    return job.id;
  }

  /** A worker's dependencies, writing to the control database through `pool`. */
  const workerWith = (pool: RunJobDeps["pool"]): RunJobDeps => ({
    pool,
    migrations,
    secretBox,
    logger: silent,
    migration: {
      lockTimeoutMs: 5000,
      statementTimeoutMs: 0,
      lockTimeoutRetries: 0,
      advisoryLockTimeoutMs: 5000,
    },
    heartbeatMs: 60_000,
    workerId: "worker-1",
    events: new JobEventPublisher(null, silent),
  });

  /** Runs one attempt of the job in a worker that stops for good once `stopped()` says so. */
  async function runStoppingWhen(jobId: string, stopped: () => Promise<boolean>): Promise<void> {
    const deps = workerWith(stoppingPool(control.pool, stopped));
    // The attempt fails once the worker has stopped; what it left committed is the point.
    await runJobAttempt(deps, jobId, false, new AbortController().signal).catch(() => undefined);
  }

  const deliveredTypes = async (jobId: string): Promise<string[]> =>
    (
      await control.pool.query<{ event_type: string }>(
        "SELECT event_type FROM webhook_deliveries WHERE job_id = $1 ORDER BY seq",
        [jobId],
      )
    ).rows.map((r) => r.event_type);

  const hasEvent = async (jobId: string, type: string): Promise<boolean> =>
    (
      await control.pool.query("SELECT 1 FROM job_events WHERE job_id = $1 AND type = $2", [
        jobId,
        type,
      ])
    ).rowCount === 1;

  it("a worker stopping once the outcome committed leaves its deliveries recorded", async () => {
    const jobId = await queuedJobForNewTenant();
    const finished = async (): Promise<boolean> => {
      const state = (await getJob(control.pool, jobId))?.state;
      return state !== "queued" && state !== "running";
    };
    await runStoppingWhen(jobId, finished);

    assert.equal((await getJob(control.pool, jobId))?.state, "succeeded");
    assert.deepEqual(await deliveredTypes(jobId), ["job.started", "job.succeeded", "tenant.ready"]);
  });

  it("leaves out a subscription deleted since its event found it, and records the rest", async () => {
    const jobId = await queuedJobForNewTenant();
    const job = await getJob(control.pool, jobId);
    assert.ok(job !== null);
    const subscriber = async (url: string) => {
      const s = await insertSubscription(control.pool, {
        urlSealed: secretBox.encrypt(url),
        urlMasked: url,
        eventTypes: ["rollout.halted"],
        description: null,
        secretSealed: secretBox.encrypt("whsec_dGVzdA=="),
      });
      return { id: s.id, urlSealed: s.urlSealed, urlMasked: s.urlMasked };
    };
    const deleted = await subscriber("https://gone.example.com/hook");
    const kept = await subscriber("https://kept.example.com/hook");
    await control.pool.query("DELETE FROM webhook_subscriptions WHERE id = $1", [deleted.id]);
    // The job's error echoes what the tenant's database said, NUL included.
    const failed = { ...job, error: { code: "MIGRATION_FAILED", message: "bad\u0000byte" } };
    const ids = await new JobEventPublisher(null, silent).recordDeliveries(
      control.pool,
      jobId,
      [{ seq: 9, type: "job.failed", data: {}, subscribers: [deleted, kept] }],
      { hasCallback: false, job: failed },
    );
    assert.equal(ids.length, 1);
    const { rows } = await control.pool.query<{ subscription_id: string; message: string }>(
      `SELECT subscription_id, payload #>> '{data,error,message}' AS message
         FROM webhook_deliveries WHERE job_id = $1`,
      [jobId],
    );
    assert.deepEqual(rows, [{ subscription_id: kept.id, message: "bad\uFFFDbyte" }]);
  });

  it("a success the control database could not record is recorded by the next attempt", async () => {
    const jobId = await queuedJobForNewTenant();
    // The control database goes away just as the outcome is written, once.
    let failed = false;
    const failing = <T extends object>(target: T): T =>
      new Proxy(target, {
        get: (object, property, receiver): unknown => {
          const value: unknown = Reflect.get(object, property, receiver);
          if (property === "connect" && typeof value === "function") {
            return async () => failing(await (value as () => Promise<object>).apply(object));
          }
          if (property !== "query" || typeof value !== "function") return value;
          return (text: unknown, values?: unknown) => {
            if (!failed && typeof text === "string" && text.includes("finished_at = now()")) {
              failed = true;
              return Promise.reject(new Error("Connection terminated unexpectedly"));
            }
            return (value as (t: unknown, v?: unknown) => unknown).call(object, text, values);
          };
        },
      });
    const signal = new AbortController().signal;

    await assert.rejects(runJobAttempt(workerWith(failing(control.pool)), jobId, false, signal));
    assert.equal(failed, true);
    assert.equal((await getJob(control.pool, jobId))?.state, "running");

    const second = await runJobAttempt(workerWith(control.pool), jobId, false, signal);
    assert.equal(second.kind === "finished" ? second.job?.state : second.kind, "succeeded");
    // The second attempt found nothing to do: the job shows the plan the first one applied,
    // from where the tenant started, and was announced once.
    const job = await getJob(control.pool, jobId);
    assert.ok(job !== null && job.steps.length > 0);
    assert.equal(job.stepsDone, job.steps.length);
    assert.equal(job.stepsTotal, job.steps.length);
    assert.deepEqual(new Set(job.steps.map((step) => step.state)), new Set(["succeeded"]));
    assert.deepEqual(job.fromHeads, []);
    assert.deepEqual(await deliveredTypes(jobId), ["job.started", "job.succeeded", "tenant.ready"]);
  });

  it("a worker stopping once a progress event committed leaves its delivery recorded", async () => {
    const jobId = await queuedJobForNewTenant();
    await runStoppingWhen(jobId, () => hasEvent(jobId, "job.started"));

    assert.equal(await hasEvent(jobId, "job.started"), true);
    assert.deepEqual(await deliveredTypes(jobId), ["job.started"]);
  });
});
