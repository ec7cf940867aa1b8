/**
 * The service when things break: a worker killed with -9 mid-revision, Redis losing the queue,
 * two services starting at once on an empty control database, and graceful shutdown (also while a
 * tenant stopped answering).
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo, type Server } from "node:net";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { CONTROL_MIGRATIONS_DIR } from "../../src/control/control-db.js";
import { loadMigrations } from "../../src/engine/load-migrations.js";
import { startFreezableProxy } from "../support/freezable-proxy.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import {
  deleteQueueKeys,
  REDIS_URL,
  serviceEnv,
  startTestService,
  testQueuePrefix,
  waitForJob,
  type TestService,
} from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

const binary = new URL("../../bin/fleetway.js", import.meta.url).pathname;

function startWorkerProcess(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [binary, "worker"], {
    env: { ...process.env, ...env, LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  return child;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function historyCounts(db: TestDatabase, schema: string): Promise<Record<string, number>> {
  const { rows } = await db.query(
    `SELECT revision, count(*)::int AS n FROM "${schema}".fleetway_history WHERE success AND direction = 'up' GROUP BY revision ORDER BY revision`,
  );
  return Object.fromEntries(rows.map((r: { revision: string; n: number }) => [r.revision, r.n]));
}

describe("service resilience", () => {
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    tenantDb = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("r1"),
      {
        id: "r2",
        down: ["r1"],
        up: "CREATE TABLE t_r2 (id int);\nSELECT pg_sleep(3);",
        downgrade: "DROP TABLE t_r2;",
      },
      tableRevision("r3", ["r2"]),
    ]);
  });
  after(async () => {
    await tenantDb.drop();
    await revisions.remove();
  });

  const register = async (
    svc: TestService,
    id: string,
    migrateTo?: string,
  ): Promise<string | null> => {
    const response = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({
        id,
        name: id,
        databaseUrl: tenantDb.url,
        schema: id,
        ...(migrateTo === undefined ? {} : { migrateTo }),
      });
    assert.equal(response.status, 201, response.text);
    return response.body.job?.id ?? null;
  };
  const jobState = async (svc: TestService, jobId: string) =>
    (await svc.http().get(`/v1/jobs/${jobId}`).set("authorization", svc.auth("read"))).body;

  it("kill -9 of a worker mid-revision: another worker finishes the job, nothing applied twice", async () => {
    const api = await startTestService({
      migrationsDir: revisions.dir,
      mode: "api",
      env: { FLEETWAY_ADVISORY_LOCK_TIMEOUT_MS: "15000" },
    });
    const env = serviceEnv(api.controlDb.url, api.config.queuePrefix, {
      migrationsDir: revisions.dir,
      env: { FLEETWAY_ADVISORY_LOCK_TIMEOUT_MS: "15000" },
    });
    let worker = startWorkerProcess(env);
    try {
      const jobId = (await register(api, "killed", "head")) as string;
      await waitUntil(async () => (await jobState(api, jobId)).progress.currentRevision === "r2");
      worker.kill("SIGKILL");
      await new Promise((r) => worker.once("exit", r));
      worker = startWorkerProcess(env);
      const job = await waitForJob(api, jobId, 60_000);
      assert.equal(job.state, "succeeded", JSON.stringify(job.error));
      assert.ok(
        (job.attempts as number) >= 2,
        `re-run after the crash (attempts ${String(job.attempts)})`,
      );
      assert.deepEqual(job.toHeads, ["r3"]);
      assert.deepEqual(await historyCounts(tenantDb, "killed"), { r1: 1, r2: 1, r3: 1 });
    } finally {
      worker.kill("SIGKILL");
      await api.close();
    }
  });

  it("Redis loses the queue: the reconciler re-enqueues what the control database holds", async () => {
    const api = await startTestService({ migrationsDir: revisions.dir, mode: "api" });
    try {
      const jobs = [
        await register(api, "flushed_a", "r1"),
        await register(api, "flushed_b", "r1"),
      ] as string[];
      // What FLUSHALL does to this queue (without wiping the rest of the developer's Redis).
      assert.ok((await deleteQueueKeys(api.config.queuePrefix)) > 0);
      const worker = await startTestService({
        migrationsDir: revisions.dir,
        mode: "worker",
        controlDb: api.controlDb,
        queuePrefix: api.config.queuePrefix,
      });
      try {
        for (const id of jobs) assert.equal((await waitForJob(api, id, 30_000)).state, "succeeded");
        // Either process's reconciler may be the one that noticed (they run in every process).
        assert.ok(
          [...api.logs, ...worker.logs].some((l) =>
            l.includes("re-enqueued jobs missing from the queue"),
          ),
        );
      } finally {
        await worker.close();
      }
    } finally {
      await api.close();
    }
  });

  it("two services starting at once on an empty control database both come up", async () => {
    const name = `fleetway_race_${Date.now().toString(36)}`;
    const base = new URL(tenantDb.url);
    base.pathname = `/${name}`;
    const controlDb: TestDatabase = {
      url: base.toString(),
      name,
      query: async (sql, params) => {
        const client = new pg.Client({ connectionString: base.toString() });
        await client.connect();
        try {
          return await client.query(sql, params);
        } finally {
          await client.end();
        }
      },
      drop: async () => {
        base.pathname = "/postgres";
        const admin = new pg.Client({ connectionString: base.toString() });
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await admin.end();
      },
    };
    const prefix = testQueuePrefix();
    const [one, two] = await Promise.all([
      startTestService({ migrationsDir: revisions.dir, controlDb, queuePrefix: prefix }),
      startTestService({ migrationsDir: revisions.dir, controlDb, queuePrefix: prefix }),
    ]);
    try {
      assert.equal((await one.http().get("/readyz")).status, 200);
      assert.equal((await two.http().get("/readyz")).status, 200);
      const applied = await controlDb.query(
        "SELECT revision, count(*)::int AS n FROM fleetway_control_history WHERE success GROUP BY revision",
      );
      const control = await loadMigrations(CONTROL_MIGRATIONS_DIR);
      assert.equal(applied.rows.length, control.graph.size, "every control revision applied");
      assert.ok(
        applied.rows.every((r: { n: number }) => r.n === 1),
        `each exactly once: ${JSON.stringify(applied.rows)}`,
      );
    } finally {
      await one.close();
      await two.close();
      await deleteQueueKeys(prefix);
      await controlDb.drop();
    }
  });

  it("graceful shutdown: a running step past the grace period is rolled back and the job re-queued, then finished", async () => {
    const first = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_SHUTDOWN_GRACE_MS: "300", FLEETWAY_ADVISORY_LOCK_TIMEOUT_MS: "15000" },
    });
    const jobId = (await register(first, "graceful", "head")) as string;
    await waitUntil(async () => (await jobState(first, jobId)).progress.currentRevision === "r2");
    await first.service.stop();
    const stopped = await first.controlDb.query("SELECT state, phase FROM jobs WHERE id = $1", [
      jobId,
    ]);
    assert.deepEqual(stopped.rows, [{ state: "queued", phase: null }], "re-queued, not failed");
    const heads = await tenantDb.query("SELECT version_num FROM graceful.fleetway_version");
    assert.deepEqual(
      heads.rows,
      [{ version_num: "r1" }],
      "the interrupted step left nothing behind",
    );

    const second = await startTestService({
      migrationsDir: revisions.dir,
      controlDb: first.controlDb,
      queuePrefix: first.config.queuePrefix,
    });
    try {
      const job = await waitForJob(second, jobId, 30_000);
      assert.equal(job.state, "succeeded", JSON.stringify(job.error));
      assert.deepEqual(await historyCounts(tenantDb, "graceful"), { r1: 1, r2: 1, r3: 1 });
      // The re-run planned from r1; the job still says where it started and all it applied.
      assert.deepEqual(
        {
          fromHeads: job.fromHeads,
          steps: (job.steps as { revision: string; state: string }[]).map((s) => [
            s.revision,
            s.state,
          ]),
          progress: job.progress,
        },
        {
          fromHeads: [],
          steps: [
            ["r1", "succeeded"],
            ["r2", "succeeded"],
            ["r3", "succeeded"],
          ],
          progress: { stepsDone: 3, stepsTotal: 3, currentRevision: null },
        },
      );
      const events = (
        await second
          .http()
          .get(`/v1/jobs/${jobId}/events`)
          .set("authorization", second.auth("read"))
      ).body.items as { type: string; data: Record<string, unknown> }[];
      assert.ok(events.some((e) => e.type === "job.interrupted"));
      assert.equal(events.filter((e) => e.type === "job.started").length, 1, "started once");
      assert.deepEqual(events.find((e) => e.type === "job.succeeded")?.data.fromHeads, []);
    } finally {
      await second.close();
      await first.close().catch(() => undefined);
    }
  });

  it("shutdown while a tenant stopped answering mid-step: stop() returns after the grace period and the job is re-queued", async () => {
    // Its host hung, or a network link drops packets: the cancel cannot reach the server either,
    // so only dropping the run's connection lets the worker let go of the job and stop.
    const proxy = await startFreezableProxy();
    const svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_SHUTDOWN_GRACE_MS: "300" },
    });
    try {
      const created = await svc
        .http()
        .post("/v1/tenants")
        .set("authorization", svc.auth("write"))
        .send({
          id: "frozen",
          name: "frozen",
          databaseUrl: proxy.through(tenantDb.url),
          schema: "frozen",
          migrateTo: "head",
        });
      assert.equal(created.status, 201, created.text);
      const jobId = created.body.job.id as string;
      await waitUntil(async () => (await jobState(svc, jobId)).progress.currentRevision === "r2");
      proxy.freeze();
      let timer: NodeJS.Timeout | undefined;
      const result = await Promise.race([
        svc.service.stop().then(() => "stopped"),
        new Promise((resolve) => {
          timer = setTimeout(() => {
            resolve("hung");
          }, 20_000);
        }),
      ]).finally(() => {
        clearTimeout(timer);
      });
      assert.equal(result, "stopped", "stop() still waiting 20 s after a 300 ms grace period");
      const { rows } = await svc.controlDb.query("SELECT state FROM jobs WHERE id = $1", [jobId]);
      assert.deepEqual(rows, [{ state: "queued" }], "re-queued for another worker");
    } finally {
      await proxy.close();
      await svc.close().catch(() => undefined);
    }
  });
});

describe("service start-up failing after the workers started", () => {
  let blocker: Server;
  let port: number;
  let controlDb: TestDatabase;
  const prefix = testQueuePrefix();
  before(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    port = (blocker.address() as AddressInfo).port;
    controlDb = await createTestDatabase();
  });
  after(async () => {
    await new Promise((resolve) => blocker.close(resolve));
    await controlDb.drop();
    await deleteQueueKeys(prefix);
  });

  it("serve on a port in use reports it and exits, instead of staying up as a headless worker", async () => {
    const child = spawn(process.execPath, [binary, "serve"], {
      env: {
        ...process.env,
        ...serviceEnv(controlDb.url, prefix),
        PORT: String(port),
        HOST: "127.0.0.1",
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exit = await new Promise<number | null | "still running">((resolve) => {
      const timer = setTimeout(() => {
        resolve("still running");
      }, 20_000);
      child.once("exit", (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
    if (exit === "still running") {
      child.kill("SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));
    }
    assert.match(stderr, /EADDRINUSE/);
    assert.notEqual(exit, "still running", "it reported the error but kept running");
    assert.notEqual(exit, 0);
  });
});

describe("a worker paused past the stale time while its step runs", () => {
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    tenantDb = await createTestDatabase();
    revisions = await revisionDir([
      {
        id: "r1",
        up: "CREATE TABLE t_r1 (id int);\nSELECT pg_sleep(4);",
        downgrade: "DROP TABLE t_r1;",
      },
    ]);
  });
  after(async () => {
    await tenantDb.drop();
    await revisions.remove();
  });

  it("the job ends as the tenant ended: succeeded, not failed with LOCK_BUSY", async () => {
    const api = await startTestService({ migrationsDir: revisions.dir, mode: "api" });
    const env = serviceEnv(api.controlDb.url, api.config.queuePrefix, {
      migrationsDir: revisions.dir,
      env: { FLEETWAY_WORKER_CONCURRENCY: "1" },
    });
    const paused: ChildProcess = spawn(process.execPath, [binary, "worker"], {
      env: { ...process.env, ...env, LOG_LEVEL: "silent" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    let other: TestService | null = null;
    try {
      const created = await api
        .http()
        .post("/v1/tenants")
        .set("authorization", api.auth("write"))
        .send({
          id: "paused",
          name: "paused",
          databaseUrl: tenantDb.url,
          schema: "paused",
          migrateTo: "head",
        });
      assert.equal(created.status, 201, created.text);
      const jobId = created.body.job.id as string;
      const current = async () =>
        (await api.http().get(`/v1/jobs/${jobId}`).set("authorization", api.auth("read"))).body;
      await waitUntil(async () => (await current()).progress.currentRevision === "r1", 30_000);
      paused.kill("SIGSTOP");
      // Another worker: its stalled-job check hands it the job once the paused one's lock lapses.
      other = await startTestService({
        migrationsDir: revisions.dir,
        mode: "worker",
        controlDb: api.controlDb,
        queuePrefix: api.config.queuePrefix,
      });
      // Long enough for the stall to be noticed and the other worker to use its attempts.
      await new Promise((r) => setTimeout(r, 14_000));
      paused.kill("SIGCONT");
      const heads = async (): Promise<unknown[]> =>
        (
          await tenantDb
            .query("SELECT version_num FROM paused.fleetway_version")
            .catch(() => ({ rows: [] }))
        ).rows;
      await waitUntil(async () => (await heads()).length > 0);
      await new Promise((r) => setTimeout(r, 2_000));
      const job = await waitForJob(api, jobId, 30_000);
      assert.deepEqual(await heads(), [{ version_num: "r1" }], "the paused worker committed r1");
      assert.equal(job.state, "succeeded", `job says ${job.state}: ${JSON.stringify(job.error)}`);
    } finally {
      paused.kill("SIGCONT");
      paused.kill("SIGKILL");
      await other?.close();
      await api.close();
    }
  });
});

describe("SIGTERM while Redis is down", () => {
  let controlDb: TestDatabase;
  const prefix = testQueuePrefix();
  before(async () => {
    controlDb = await createTestDatabase();
  });
  after(async () => {
    await deleteQueueKeys(prefix);
    await controlDb.drop();
  });

  for (const mode of ["api", "worker"] as const) {
    it(`fleetway ${mode} exits`, async () => {
      const redis = await startFreezableProxy({ host: "127.0.0.1", port: 6379 });
      const child = spawn(process.execPath, [binary, mode], {
        env: {
          ...process.env,
          ...serviceEnv(controlDb.url, prefix),
          REDIS_URL: redis.through(REDIS_URL),
          // Shutdown waits out a delivery in flight (this timeout) and the grace period (2 s).
          FLEETWAY_WEBHOOK_TIMEOUT_MS: "2000",
          LOG_LEVEL: "info",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
      const deadline = Date.now() + 30_000;
      while (!output.includes("fleetway started")) {
        assert.ok(Date.now() < deadline, `did not start: ${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await redis.close(); // Redis goes away: connections refused from now on
      await new Promise((r) => setTimeout(r, 1_000));
      child.kill("SIGTERM");
      const code = await Promise.race([
        exited,
        new Promise<"still running">((resolve) => {
          setTimeout(() => {
            resolve("still running");
          }, 30_000);
        }),
      ]);
      if (code === "still running") {
        child.kill("SIGKILL");
        await exited;
      }
      const lines = output.split("\n").filter((l) => !l.includes("connection error"));
      assert.notEqual(
        code,
        "still running",
        `still running 30 s after SIGTERM; its output:\n${lines.slice(-4).join("\n")}`,
      );
    });
  }
});
