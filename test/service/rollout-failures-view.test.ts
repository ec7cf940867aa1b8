/**
 * Rollouts and the fleet view, end to end: what an operator reads when a rollout halts on a
 * cancelled job, and how the fleet groups tenants at base.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, waitForJob, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

describe("rollouts and the fleet view", () => {
  let svc: TestService;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;

  before(async () => {
    revisions = await revisionDir([
      tableRevision("r1"),
      {
        id: "r2",
        down: ["r1"],
        up: "CREATE TABLE t_r2 (id int);\nSELECT pg_sleep(1);",
        downgrade: "DROP TABLE t_r2;",
      },
    ]);
    tenantDb = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_ROLLOUT_TICK_MS: "50", FLEETWAY_WORKER_CONCURRENCY: "4" },
    });
    // Rollout events are recorded as deliveries for a subscription (never delivered here).
    await svc.controlDb.query(
      `INSERT INTO webhook_subscriptions (id, url_sealed, url_masked, event_types, secret_sealed)
       VALUES (gen_random_uuid(), 'sealed', 'https://hooks.example/rollouts',
               '{rollout.started,rollout.wave_completed,rollout.halted,rollout.succeeded,rollout.failed,rollout.cancelled}', 's')`,
    );
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
  const addTenant = async (id: string, tags: string[]) => {
    const response = await api.post("/v1/tenants", {
      id,
      name: id,
      databaseUrl: tenantDb.url,
      schema: id,
      tags,
    });
    assert.equal(response.status, 201, response.text);
  };
  const waitForRollout = async (id: string, states: string[], timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rollout = (await api.get(`/v1/rollouts/${id}`)).body;
      if (states.includes(rollout.state)) return rollout;
      if (Date.now() > deadline) throw new Error(`rollout ${id} still ${String(rollout.state)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  it("a rollout halted by a cancelled job lists that tenant among its failures", async () => {
    await addTenant("cx00", ["cx"]);
    const created = await api.post("/v1/rollouts", { target: "head", tenants: { tags: ["cx"] } });
    assert.equal(created.status, 202, created.text);
    const id = created.body.id as string;
    let jobId: string | undefined;
    for (let i = 0; i < 200 && jobId === undefined; i++) {
      const { rows } = await svc.controlDb.query("SELECT id FROM jobs WHERE rollout_id = $1", [id]);
      jobId = (rows[0] as { id: string } | undefined)?.id;
      if (jobId === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(jobId !== undefined, "the rollout launched no job");
    assert.equal((await api.post(`/v1/jobs/${jobId}/cancel`)).status, 202);
    const rollout = await waitForRollout(id, ["halted", "failed", "succeeded"]);
    assert.equal(rollout.state, "halted");
    assert.match(rollout.haltedReason, /1 of 1 tenants failed/);
    assert.deepEqual(
      rollout.failures.map((f: { tenantId: string; state: string }) => [f.tenantId, f.state]),
      [["cx00", "cancelled"]],
      "the tenant that halted the rollout is not among its failures",
    );
  });

  it("a tenant deleted after it failed is skipped by the retry, which finishes the rollout", async () => {
    for (const id of ["da", "db"]) await addTenant(id, ["deleted"]);
    await tenantDb.query("CREATE SCHEMA da; CREATE TABLE da.t_r1 (id int)");
    const created = await api.post("/v1/rollouts", {
      target: "r1",
      tenants: { tags: ["deleted"] },
      maxParallel: 1,
    });
    assert.equal(created.status, 202, created.text);
    const id = created.body.id as string;
    assert.equal((await waitForRollout(id, ["halted", "failed", "succeeded"])).state, "halted");
    const deleted = await svc
      .http()
      .delete("/v1/tenants/da")
      .set("authorization", svc.auth("write"));
    assert.equal(deleted.status, 204, deleted.text);
    const retried = await api.post(`/v1/rollouts/${id}/retry`);
    assert.equal(retried.status, 202, retried.text);
    const done = await waitForRollout(id, ["halted", "failed", "succeeded"]);
    assert.deepEqual(
      {
        state: done.state,
        counts: { succeeded: done.counts.succeeded, skipped: done.counts.skipped },
        failures: done.failures,
        deleted: done.deletedTenants,
      },
      {
        state: "succeeded",
        counts: { succeeded: 1, skipped: 1 },
        failures: [],
        deleted: [{ tenantId: "da", wave: 0 }],
      },
    );
  });

  it("a retry announces again only the waves that really complete again", async () => {
    // Wave 1: wa (fails, tolerated). Wave 2: wb (succeeds). Wave 3: wc, wd (both fail: halt).
    for (const id of ["wa", "wb", "wc", "wd"]) await addTenant(id, ["wavesonce"]);
    for (const id of ["wa", "wc", "wd"])
      await tenantDb.query(`CREATE SCHEMA ${id}; CREATE TABLE ${id}.t_r1 (id int)`);
    const created = await api.post("/v1/rollouts", {
      target: "r1",
      tenants: { tags: ["wavesonce"] },
      waves: [{ count: 1 }, { count: 2 }, { percent: 100 }],
      maxParallel: 4,
      failureThreshold: { count: 1 },
    });
    assert.equal(created.status, 202, created.text);
    const id = created.body.id as string;
    const halted = await waitForRollout(id, ["halted", "failed", "succeeded"]);
    assert.equal(halted.state, "halted", JSON.stringify(halted));
    for (const tenant of ["wa", "wc", "wd"]) await tenantDb.query(`DROP TABLE ${tenant}.t_r1`);
    const retried = await api.post(`/v1/rollouts/${id}/retry`);
    assert.equal(retried.status, 202, retried.text);
    const done = await waitForRollout(id, ["halted", "failed", "succeeded"]);
    assert.equal(done.state, "succeeded", JSON.stringify(done));
    const { rows } = await svc.controlDb.query(
      `SELECT (payload->'data'->>'currentWave')::int AS wave FROM webhook_deliveries
        WHERE rollout_id = $1 AND event_type = 'rollout.wave_completed'
        ORDER BY (payload->'data'->>'sequence')::int`,
      [id],
    );
    // Wave 1 completes again (its tenant ran again), wave 2 does not (nothing of it ran again),
    // wave 3 completes for the first time.
    assert.deepEqual(
      rows.map((r) => (r as { wave: number }).wave),
      [0, 1, 0, 2],
    );
  });

  it("the fleet view tells a tenant at base from one never seen", async () => {
    await addTenant("atbase", ["fleetview"]);
    await addTenant("neverseen", ["fleetview"]);
    for (const [operation, target] of [
      ["upgrade", "r1"],
      ["downgrade", "base"],
    ] as const) {
      const job = await api.post("/v1/tenants/atbase/jobs", { operation, target });
      assert.equal(job.status, 202, job.text);
      assert.equal((await waitForJob(svc, job.body.id as string)).state, "succeeded");
    }
    assert.deepEqual((await api.get("/v1/tenants/atbase")).body.heads, []);
    const fleet = (await api.get("/v1/fleet")).body as {
      byRevision: { heads: string[] | null; tenants: number }[];
    };
    const group = (heads: string[] | null) =>
      fleet.byRevision.find((r) => JSON.stringify(r.heads) === JSON.stringify(heads))?.tenants;
    assert.deepEqual(
      { base: group([]), neverSeen: group(null) },
      { base: 1, neverSeen: 1 },
      JSON.stringify(fleet.byRevision),
    );
  });
});
