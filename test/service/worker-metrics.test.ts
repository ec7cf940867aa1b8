/**
 * `fleetway worker` serves its own /metrics (FLEETWAY_WORKER_METRICS_PORT): with the API in other
 * processes, as docker-compose.yml deploys it, the step durations its workers observe were in no
 * scrape at all (the API's histogram stays empty when the steps run elsewhere).
 */
import assert from "node:assert/strict";
import { createServer, type AddressInfo, type Server } from "node:net";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import {
  startTestService,
  serviceEnv,
  waitForJob,
  type TestService,
} from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

describe("a worker process's metrics", () => {
  let tenantDb: TestDatabase;
  let api: TestService;
  before(async () => {
    tenantDb = await createTestDatabase();
    api = await startTestService({ mode: "api" });
  });
  after(async () => {
    await api.close();
    await tenantDb.drop();
  });

  it("are served on FLEETWAY_WORKER_METRICS_PORT, with the steps its jobs committed", async () => {
    const worker = await startTestService({
      mode: "worker",
      controlDb: api.controlDb,
      queuePrefix: api.config.queuePrefix,
      env: { FLEETWAY_WORKER_METRICS_PORT: "0" },
    });
    try {
      const created = await api
        .http()
        .post("/v1/tenants")
        .set("authorization", api.auth("write"))
        .send({
          id: "metered",
          name: "Metered",
          databaseUrl: tenantDb.url,
          schema: "metered",
          migrateTo: "head",
        });
      assert.equal(created.status, 201, created.text);
      const job = await waitForJob(api, created.body.job.id as string);
      assert.equal(job.state, "succeeded", JSON.stringify(job.error));
      const steps = (job.steps as unknown[]).length;

      assert.ok(worker.service.metricsUrl !== null);
      const response = await fetch(`${worker.service.metricsUrl}/metrics`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
      const text = await response.text();
      assert.match(
        text,
        new RegExp(`^fleetway_step_duration_seconds_count\\{direction="up"\\} ${steps}$`, "m"),
      );
      // Fleet-wide numbers are the API's to report; a worker repeating them would double a sum.
      assert.doesNotMatch(text, /^fleetway_jobs/m);
      assert.doesNotMatch(text, /^fleetway_control_notify_queue_usage_ratio/m);

      // The API of a split deployment observes no steps of its own.
      const apiMetrics = await api.http().get("/metrics");
      assert.doesNotMatch(
        apiMetrics.text,
        /^fleetway_step_duration_seconds_count\{direction="up"\} [1-9]/m,
      );
    } finally {
      await worker.close();
    }
  });

  it("are not served unless asked for, and the port is checked", () => {
    const env = serviceEnv("postgres://127.0.0.1/x", "{p}");
    assert.equal(loadConfig(env).worker.metricsPort, null);
    assert.equal(
      loadConfig({ ...env, FLEETWAY_WORKER_METRICS_PORT: "9464" }).worker.metricsPort,
      9464,
    );
    assert.throws(
      () => loadConfig({ ...env, FLEETWAY_WORKER_METRICS_PORT: "70000" }),
      /FLEETWAY_WORKER_METRICS_PORT must be a port number/,
    );
    assert.throws(
      () => loadConfig({ ...env, FLEETWAY_WORKER_METRICS_PORT: "http" }),
      /FLEETWAY_WORKER_METRICS_PORT must be a port number/,
    );
  });
});

describe("start-up on a port in use", () => {
  let tenantDb: TestDatabase;
  let api: TestService;
  let blocker: Server;
  let takenPort: number;
  before(async () => {
    tenantDb = await createTestDatabase();
    // No worker: the jobs it queues wait for the processes started below.
    api = await startTestService({ mode: "api" });
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    takenPort = (blocker.address() as AddressInfo).port;
  });
  after(async () => {
    await new Promise((resolve) => blocker.close(resolve));
    await api.close();
    await tenantDb.drop();
  });

  /** Registers a tenant with a first job, which waits in the queue (the API runs no worker). */
  const queueJob = async (id: string): Promise<string> => {
    const created = await api
      .http()
      .post("/v1/tenants")
      .set("authorization", api.auth("write"))
      .send({ id, name: id, databaseUrl: tenantDb.url, schema: id, migrateTo: "head" });
    assert.equal(created.status, 201, created.text);
    return created.body.job.id as string;
  };
  const attemptsOf = async (jobId: string) => {
    const job = await api.http().get(`/v1/jobs/${jobId}`).set("authorization", api.auth("read"));
    return { state: job.body.state as string, attempts: job.body.attempts as number };
  };

  it("a worker whose FLEETWAY_WORKER_METRICS_PORT is taken fails start-up without claiming a job", async () => {
    const jobId = await queueJob("metricsport");
    await assert.rejects(
      startTestService({
        mode: "worker",
        controlDb: api.controlDb,
        queuePrefix: api.config.queuePrefix,
        env: { FLEETWAY_WORKER_METRICS_PORT: String(takenPort) },
      }),
      /EADDRINUSE/,
    );
    assert.deepEqual(await attemptsOf(jobId), { state: "queued", attempts: 0 });
  });

  it("serve on a PORT that is taken fails start-up without claiming a job", async () => {
    const jobId = await queueJob("serveport");
    await assert.rejects(
      startTestService({
        mode: "serve",
        controlDb: api.controlDb,
        queuePrefix: api.config.queuePrefix,
        env: { PORT: String(takenPort) },
      }),
      /EADDRINUSE/,
    );
    assert.deepEqual(await attemptsOf(jobId), { state: "queued", attempts: 0 });
  });
});
