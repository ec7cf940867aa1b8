/**
 * A rollout advances when something happens to it, not at the coordinator's tick: its creation,
 * a resume, every job's end. The tick here is a minute, so each test fails if it waits for it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

describe("rollout nudges", () => {
  let svc: TestService;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;

  before(async () => {
    revisions = await revisionDir([
      tableRevision("r1", [], { up: "CREATE TABLE t_r1 (id int);\nSELECT pg_sleep(0.3);" }),
    ]);
    tenantDb = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_ROLLOUT_TICK_MS: "60000", FLEETWAY_WORKER_CONCURRENCY: "4" },
    });
  });
  after(async () => {
    await svc.close();
    await tenantDb.drop();
    await revisions.remove();
  });

  const api = {
    post: (path: string, body: object = {}) =>
      svc.http().post(path).set("authorization", svc.auth("write")).send(body),
    get: (path: string) => svc.http().get(path).set("authorization", svc.auth("read")),
  };
  const addTenants = async (tag: string, count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const id = `${tag}${i}`;
      const response = await api.post("/v1/tenants", {
        id,
        name: id,
        databaseUrl: tenantDb.url,
        schema: id,
        tags: [tag],
      });
      assert.equal(response.status, 201, response.text);
    }
  };
  /** Polls until `check` holds, well within the coordinator's one-minute tick. */
  const within = async (what: string, check: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  const rolloutState = async (id: string): Promise<string> =>
    String((await api.get(`/v1/rollouts/${id}`)).body.state);
  const jobStates = async (tag: string): Promise<string[]> => {
    const { rows } = await svc.controlDb.query(
      "SELECT state FROM jobs WHERE tenant_id LIKE $1 ORDER BY created_at",
      [`${tag}%`],
    );
    return (rows as { state: string }[]).map((r) => r.state);
  };

  it("a rollout's first jobs start when it is created", async () => {
    await addTenants("created", 2);
    const created = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { tags: ["created"] },
    });
    assert.equal(created.status, 202, created.text);
    await within(
      "the rollout succeeded",
      async () => (await rolloutState(created.body.id)) === "succeeded",
    );
  });

  it("a resumed rollout launches at once", async () => {
    await addTenants("resumed", 2);
    const created = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { tags: ["resumed"] },
      maxParallel: 1,
    });
    const id = String(created.body.id);
    // Paused while its first job runs: that job ends, and nothing else is launched.
    await within("the first job exists", async () => (await jobStates("resumed")).length === 1);
    assert.equal((await api.post(`/v1/rollouts/${id}/pause`)).status, 202);
    await within(
      "the first job ended",
      async () => (await jobStates("resumed"))[0] === "succeeded",
    );
    assert.deepEqual(await jobStates("resumed"), ["succeeded"]);
    assert.equal((await api.post(`/v1/rollouts/${id}/resume`)).status, 202);
    await within("the rollout succeeded", async () => (await rolloutState(id)) === "succeeded");
  });

  it("a job's end that finds the rollout busy in another transaction advances it once free", async () => {
    await addTenants("busy", 2);
    const created = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { tags: ["busy"] },
      maxParallel: 1,
    });
    const id = String(created.body.id);
    await within("the first job runs", async () => (await jobStates("busy")).length === 1);
    // Another process's pass, as the worker's pass after the job's end meets it: the rollout's
    // row is held while the job ends, so that pass skips the rollout.
    const other = new pg.Client({ connectionString: svc.controlDb.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT 1 FROM rollouts WHERE id = $1 FOR UPDATE", [id]);
      await within("the first job ended", async () => (await jobStates("busy"))[0] === "succeeded");
      // Long enough for the pass after the job's end to have met the lock (it follows within
      // milliseconds), shorter than its retries last.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.deepEqual(await jobStates("busy"), ["succeeded"]);
      await other.query("COMMIT");
    } finally {
      await other.end();
    }
    await within("the rollout succeeded", async () => (await rolloutState(id)) === "succeeded");
    assert.deepEqual(await jobStates("busy"), ["succeeded", "succeeded"]);
  });
});

describe("rollout nudges without a worker", () => {
  let svc: TestService;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;

  before(async () => {
    revisions = await revisionDir([tableRevision("r1")]);
    tenantDb = await createTestDatabase();
    // An API process alone: the rollout's jobs stay queued.
    svc = await startTestService({
      migrationsDir: revisions.dir,
      mode: "api",
      env: { FLEETWAY_ROLLOUT_TICK_MS: "60000" },
    });
  });
  after(async () => {
    await svc.close();
    await tenantDb.drop();
    await revisions.remove();
  });

  it("cancelling a rollout's queued job settles it and launches the next tenant at once", async () => {
    const write = svc.auth("write");
    for (const id of ["q0", "q1"]) {
      const response = await svc
        .http()
        .post("/v1/tenants")
        .set("authorization", write)
        .send({ id, name: id, databaseUrl: tenantDb.url, schema: id, tags: ["queued"] });
      assert.equal(response.status, 201, response.text);
    }
    const created = await svc
      .http()
      .post("/v1/rollouts")
      .set("authorization", write)
      .send({
        target: "head",
        tenants: { tags: ["queued"] },
        maxParallel: 1,
        failureThreshold: { count: 1 },
      });
    assert.equal(created.status, 202, created.text);
    const jobs = async (): Promise<{ id: string; tenant_id: string; state: string }[]> =>
      (
        await svc.controlDb.query(
          "SELECT id, tenant_id, state FROM jobs WHERE rollout_id = $1 ORDER BY created_at",
          [created.body.id],
        )
      ).rows as { id: string; tenant_id: string; state: string }[];
    const waitFor = async (what: string, check: () => Promise<boolean>): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`not within 10 s: ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await waitFor("the first job is queued", async () => (await jobs()).length === 1);
    const [first] = await jobs();
    const cancelled = await svc
      .http()
      .post(`/v1/jobs/${first?.id ?? ""}/cancel`)
      .set("authorization", write);
    assert.equal(cancelled.status, 202, cancelled.text);
    await waitFor("the second tenant's job is launched", async () => (await jobs()).length === 2);
    assert.deepEqual(
      (await jobs()).map((j) => [j.tenant_id, j.state]),
      [
        ["q0", "cancelled"],
        ["q1", "queued"],
      ],
    );
  });
});
