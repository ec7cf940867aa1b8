/**
 * Waiting for a job's end: JobEndListener hears the control database announce it (LISTEN/NOTIFY,
 * from a trigger on jobs), and `GET /v1/jobs/{id}?wait=N` holds its answer until then.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { JobEndListener, type JobEndWait } from "../../src/control/job-end-listener.js";
import { finishJob } from "../../src/control/job-store.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";
import { startTestService, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

const silent = pino({ level: "silent" });

/**
 * Whether `wait` resolved within `ms`. Generous bounds only: a waiter that was not woken
 * resolves when its own (much longer) time is up, never within them.
 */
async function wokenWithin(wait: JobEndWait, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => {
      resolve(false);
    }, ms);
  });
  const woken = await Promise.race([wait.ended.then(() => true as const), timeout]);
  clearTimeout(timer);
  return woken;
}

/** How many listeners' connections are listening (their backends show the LISTEN). */
async function listeners(control: ControlTestDatabase): Promise<number> {
  const { rows } = await control.pool.query(
    `SELECT 1 FROM pg_stat_activity
      WHERE application_name = 'fleetway-job-ends' AND datname = current_database()
        AND query LIKE 'LISTEN%'`,
  );
  return rows.length;
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error("the listener never listened");
}

/** Waits until a listener's connection is listening. */
async function listening(control: ControlTestDatabase): Promise<void> {
  await until(async () => (await listeners(control)) > 0);
}

describe("JobEndListener", () => {
  let control: ControlTestDatabase;
  let listener: JobEndListener;

  before(async () => {
    control = await createControlTestDatabase();
    listener = new JobEndListener(control.db.url, silent);
    listener.start();
    await listening(control);
  });
  after(async () => {
    await listener.stop();
    await control.drop();
  });

  it("wakes the waiters of a job when it ends, and only them", async () => {
    const mine = await control.queuedJob();
    const waitingForMine = listener.waitForEnd(mine, 60_000);
    const other = await finishedLater(control);
    const waitingForOther = listener.waitForEnd(other.id, 60_000);
    await other.finish();
    assert.equal(await wokenWithin(waitingForOther, 20_000), true);
    // The other job's end (announced before this one's) did not wake this waiter.
    assert.equal(await wokenWithin(waitingForMine, 200), false);
    // The id as a client may write it: in capitals (notifications carry it in lower case).
    const inCapitals = listener.waitForEnd(mine.toUpperCase(), 60_000);
    await finishJob(control.pool, mine, { state: "failed", error: null });
    assert.equal(await wokenWithin(waitingForMine, 20_000), true);
    assert.equal(await wokenWithin(inCapitals, 20_000), true);
  });

  it("wakes every waiter when its connection comes back, and hears ends after that", async () => {
    const job = await control.queuedJob();
    const beforeTheDrop = listener.waitForEnd(job, 60_000);
    await control.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'fleetway-job-ends' AND datname = current_database()`,
    );
    // An end announced while nobody listened is never heard: the reconnect wakes everyone.
    assert.equal(await wokenWithin(beforeTheDrop, 20_000), true);
    await listening(control);
    const afterTheDrop = listener.waitForEnd(job, 60_000);
    await finishJob(control.pool, job, { state: "succeeded", error: null });
    assert.equal(await wokenWithin(afterTheDrop, 20_000), true);
  });

  it("ends a wait when its time is up, and every wait when it stops", async () => {
    const job = await control.queuedJob();
    assert.equal(await wokenWithin(listener.waitForEnd(job, 50), 20_000), true);
    const stopping = new JobEndListener(control.db.url, silent);
    stopping.start();
    const held = stopping.waitForEnd(job, 60_000);
    await stopping.stop();
    assert.equal(await wokenWithin(held, 1_000), true);
    assert.equal(await wokenWithin(stopping.waitForEnd(job, 60_000), 1_000), true);
    // Started again, it listens again.
    stopping.start();
    await until(async () => (await listeners(control)) === 2);
    const again = stopping.waitForEnd(job, 60_000);
    await finishJob(control.pool, job, { state: "cancelled", error: null });
    assert.equal(await wokenWithin(again, 20_000), true);
    await stopping.stop();
  });
});

/** A second queued job (for another tenant) and a way to end it. */
async function finishedLater(
  control: ControlTestDatabase,
): Promise<{ id: string; finish(): Promise<void> }> {
  await control.pool.query(
    `INSERT INTO tenants (id, name, tags, database_url_sealed, database_url_masked, schema_name)
     VALUES ('other', 'Other', '{}', 'sealed-url', 'postgres://db/other', 'other')
     ON CONFLICT (id) DO NOTHING`,
  );
  const { rows } = await control.pool.query<{ id: string }>(
    `INSERT INTO jobs (id, tenant_id, operation, target, transaction_mode, state)
     VALUES (gen_random_uuid(), 'other', 'upgrade', 'head', 'per-revision', 'queued') RETURNING id`,
  );
  const id = rows[0]?.id ?? "";
  return {
    id,
    finish: async () => {
      await finishJob(control.pool, id, { state: "succeeded", error: null });
    },
  };
}

describe("GET /v1/jobs/{id}?wait=", () => {
  let service: TestService;
  let tenantDb: TestDatabase;
  let tenants = 0;

  before(async () => {
    tenantDb = await createTestDatabase();
    // No worker: jobs stay queued until a test ends them.
    service = await startTestService({ mode: "api" });
  });
  after(async () => {
    await service.close();
    await tenantDb.drop();
  });

  async function queuedJob(): Promise<string> {
    const id = `w${String(++tenants)}`;
    const tenant = await service
      .http()
      .post("/v1/tenants")
      .set("authorization", service.auth("write"))
      .send({ id, name: id, databaseUrl: tenantDb.url, schema: id });
    assert.equal(tenant.status, 201, tenant.text);
    const job = await service
      .http()
      .post(`/v1/tenants/${id}/jobs`)
      .set("authorization", service.auth("write"))
      .send({ operation: "upgrade", target: "head" });
    assert.equal(job.status, 202, job.text);
    return job.body.id as string;
  }

  const getJob = (id: string, query = "") =>
    service.http().get(`/v1/jobs/${id}${query}`).set("authorization", service.auth("read"));

  it("answers once the job ends, with its final state", async () => {
    const id = await queuedJob();
    const answer = getJob(id, "?wait=50").then((r) => r);
    // Give the request time to start waiting (if it has not, it reads the final state anyway).
    await new Promise((r) => setTimeout(r, 200));
    const cancelled = await service
      .http()
      .post(`/v1/jobs/${id}/cancel`)
      .set("authorization", service.auth("write"));
    assert.equal(cancelled.status, 202, cancelled.text);
    const response = await answer;
    assert.equal(response.status, 200);
    assert.equal(response.body.state, "cancelled");
  });

  it("answers a finished job at once, and an active one as it is when the wait is over", async () => {
    const id = await queuedJob();
    const stillQueued = await getJob(id, "?wait=1");
    assert.equal(stillQueued.status, 200);
    assert.equal(stillQueued.body.state, "queued");
    await service.http().post(`/v1/jobs/${id}/cancel`).set("authorization", service.auth("write"));
    assert.equal((await getJob(id, "?wait=55")).body.state, "cancelled");
  });

  it("refuses a wait beyond 55 seconds, and answers 404 for an unknown job", async () => {
    const tooLong = await getJob("00000000-0000-4000-8000-000000000000", "?wait=56");
    assert.equal(tooLong.status, 400);
    const unknown = await getJob("00000000-0000-4000-8000-000000000000", "?wait=5");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, "JOB_NOT_FOUND");
  });
});

describe("GET /v1/jobs/{id}?wait= while the service stops", () => {
  it("answers the waiting request at once instead of holding the shutdown", async () => {
    const tenantDb = await createTestDatabase();
    const service = await startTestService({ mode: "api" });
    try {
      await service
        .http()
        .post("/v1/tenants")
        .set("authorization", service.auth("write"))
        .send({ id: "s1", name: "s1", databaseUrl: tenantDb.url, schema: "s1" });
      const job = await service
        .http()
        .post("/v1/tenants/s1/jobs")
        .set("authorization", service.auth("write"))
        .send({ operation: "upgrade", target: "head" });
      const answer = service
        .http()
        .get(`/v1/jobs/${job.body.id as string}?wait=55`)
        .set("authorization", service.auth("read"))
        .then((r) => r);
      await new Promise((r) => setTimeout(r, 200));
      // Held for its 55 seconds, the request would keep the server from closing.
      let timer: NodeJS.Timeout | undefined;
      const stoppedInTime = await Promise.race([
        service.service.stop().then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => {
            resolve(false);
          }, 20_000);
        }),
      ]);
      clearTimeout(timer);
      assert.equal(stoppedInTime, true);
      const response = await answer;
      assert.equal(response.status, 200);
      assert.equal(response.body.state, "queued");
    } finally {
      await service.close();
      await tenantDb.drop();
    }
  });
});
