/**
 * Fleet rollouts over 50 tenants (schemas of one database): waves, a broken canary halting the
 * rollout, retry after the fix, skipped tenants, pause/resume, cancel, and the fleet view.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, waitForJob, type TestService } from "../support/service-harness.js";
import { maxOverlap } from "../support/intervals.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

describe("rollouts", () => {
  let svc: TestService;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;

  before(async () => {
    revisions = await revisionDir([
      tableRevision("r1"),
      {
        id: "r2",
        down: ["r1"],
        up: "CREATE TABLE t_r2 (id int);\nSELECT pg_sleep(0.05);",
        downgrade: "DROP TABLE t_r2;",
      },
    ]);
    tenantDb = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_ROLLOUT_TICK_MS: "50", FLEETWAY_WORKER_CONCURRENCY: "8" },
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
  const addTenants = async (prefix: string, count: number, tags: string[]) => {
    for (let i = 0; i < count; i++) {
      const id = `${prefix}${String(i).padStart(2, "0")}`;
      const response = await api.post("/v1/tenants", {
        id,
        name: id,
        databaseUrl: tenantDb.url,
        schema: id,
        tags,
      });
      assert.equal(response.status, 201, response.text);
    }
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
  /**
   * Runs `test` while another session holds a SHARE lock on rollout_tenants, which stops a
   * rollout's creation between counting its tenants and inserting them. `whileHeld(change)`
   * waits until the creation waits for the lock, makes `change`, and releases the lock.
   */
  const holdingRolloutTenants = async (
    test: (whileHeld: (change: () => Promise<unknown>) => Promise<void>) => Promise<void>,
  ) => {
    const blocker = new pg.Client({ connectionString: svc.controlDb.url });
    await blocker.connect();
    try {
      await blocker.query("BEGIN; LOCK TABLE rollout_tenants IN SHARE MODE");
      await test(async (change) => {
        for (let waited = 0; ; waited += 10) {
          const { rows } = await svc.controlDb.query(
            `SELECT count(*)::int AS n FROM pg_locks
              WHERE NOT granted AND relation = 'rollout_tenants'::regclass`,
          );
          if ((rows[0] as { n: number }).n > 0) break;
          if (waited > 10_000) throw new Error("the rollout's insert never waited for the lock");
          await new Promise((r) => setTimeout(r, 10));
        }
        await change();
        await blocker.query("ROLLBACK");
      });
    } finally {
      await blocker.query("ROLLBACK").catch(() => undefined);
      await blocker.end();
    }
  };
  const rolloutJobs = async (rolloutId: string) =>
    (
      await svc.controlDb.query(
        "SELECT tenant_id, state, worker_id, (extract(epoch FROM started_at) * 1000)::float8 AS start, (extract(epoch FROM finished_at) * 1000)::float8 AS end FROM jobs WHERE rollout_id = $1",
        [rolloutId],
      )
    ).rows as { tenant_id: string; state: string; worker_id: string; start: number; end: number }[];

  let haltedId = "";

  it("a broken canary halts the rollout before the second wave", async () => {
    await addTenants("t", 50, ["fleet"]);
    // t00 sorts first, so it is the canary; a table in the way makes its first revision fail.
    await tenantDb.query("CREATE SCHEMA t00; CREATE TABLE t00.t_r1 (id int)");
    const created = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { tags: ["fleet"] },
      waves: [{ count: 1 }, { percent: 10 }, { percent: 100 }],
      maxParallel: 5,
      failureThreshold: { count: 0 },
    });
    assert.equal(created.status, 202, created.text);
    assert.equal(created.headers.location, `/v1/rollouts/${created.body.id as string}`);
    assert.equal(created.body.totalTenants, 50);
    assert.deepEqual(
      created.body.waves.map((w: { tenants: number }) => w.tenants),
      [1, 4, 45],
    );
    haltedId = created.body.id;
    const rollout = await waitForRollout(haltedId, ["halted"]);
    assert.match(rollout.haltedReason, /wave 1: 1 of 1 tenants failed/);
    assert.equal(rollout.counts.failed, 1);
    assert.equal(rollout.counts.pending, 49);
    assert.deepEqual(
      rollout.failures.map((f: { tenantId: string }) => f.tenantId),
      ["t00"],
    );
    assert.equal(rollout.failures[0].error.sqlstate, "42P07");
    assert.equal((await rolloutJobs(haltedId)).length, 1, "no job beyond the canary");
  });

  it("retry after the fix finishes every wave, never exceeding maxParallel", async () => {
    await tenantDb.query("DROP TABLE t00.t_r1");
    const retried = await api.post(`/v1/rollouts/${haltedId}/retry`);
    assert.equal(retried.status, 202, retried.text);
    const rollout = await waitForRollout(haltedId, ["succeeded", "halted", "failed"]);
    assert.equal(rollout.state, "succeeded", JSON.stringify(rollout.failures));
    assert.equal(rollout.counts.succeeded, 50);
    assert.equal(rollout.currentWave, 2);
    const jobs = await rolloutJobs(haltedId);
    assert.equal(jobs.filter((j) => j.state === "succeeded").length, 50);
    assert.ok(maxOverlap(jobs.map((j) => ({ start: j.start, end: j.end }))) <= 5);
    const fleet = (await api.get("/v1/fleet")).body;
    assert.equal(fleet.atHead, 50);
    assert.deepEqual(fleet.byRevision[0], { heads: ["r2"], tenants: 50 });
  });

  it("tenants already at the target are skipped without running anything", async () => {
    const created = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { tags: ["fleet"] },
    });
    const rollout = await waitForRollout(created.body.id, ["succeeded"]);
    assert.equal(rollout.counts.skipped, 50);
    assert.equal((await rolloutJobs(created.body.id)).length, 0);
  });

  it("pause stops launching, resume carries on", async () => {
    await addTenants("p", 10, ["paused"]);
    const created = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { tags: ["paused"] },
      maxParallel: 1,
    });
    const id = created.body.id as string;
    const paused = await api.post(`/v1/rollouts/${id}/pause`);
    assert.equal(paused.status, 202, paused.text);
    assert.equal(paused.body.state, "paused");
    await new Promise((r) => setTimeout(r, 300));
    const launched = (await rolloutJobs(id)).length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await rolloutJobs(id)).length, launched, "no job launched while paused");
    assert.ok(launched <= 1);
    assert.equal((await api.post(`/v1/rollouts/${id}/pause`)).status, 409, "already paused");
    await api.post(`/v1/rollouts/${id}/resume`);
    const done = await waitForRollout(id, ["succeeded"]);
    assert.equal(done.counts.succeeded, 10);
  });

  it("cancel stops the rollout: nothing launched afterwards, pending tenants cancelled", async () => {
    await addTenants("c", 10, ["cancelled"]);
    const created = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { ids: ["c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09"] },
      maxParallel: 1,
    });
    const id = created.body.id as string;
    const cancelled = await api.post(`/v1/rollouts/${id}/cancel`);
    assert.equal(cancelled.status, 202);
    assert.equal(cancelled.body.state, "cancelled");
    const launched = (await rolloutJobs(id)).length;
    await new Promise((r) => setTimeout(r, 400));
    const jobs = await rolloutJobs(id);
    assert.equal(jobs.length, launched);
    assert.ok(
      jobs.every((j) => ["cancelled", "succeeded"].includes(j.state) || j.state === "running"),
    );
    const view = (await api.get(`/v1/rollouts/${id}`)).body;
    assert.ok(view.counts.cancelled >= 9);
    assert.equal((await api.post(`/v1/rollouts/${id}/resume`)).status, 409);
  });

  it("failures within the threshold let the rollout go on, and it ends failed", async () => {
    await addTenants("f", 3, ["tolerant"]);
    await tenantDb.query("CREATE SCHEMA f01; CREATE TABLE f01.t_r1 (id int)");
    const created = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { tags: ["tolerant"] },
      waves: [{ count: 1 }, { percent: 100 }],
      failureThreshold: { count: 1 },
    });
    const rollout = await waitForRollout(created.body.id, ["failed", "succeeded", "halted"]);
    assert.equal(rollout.state, "failed");
    assert.equal(rollout.counts.succeeded, 2);
    assert.deepEqual(
      rollout.failures.map((f: { tenantId: string }) => f.tenantId),
      ["f01"],
    );
  });

  it("a tenant registered while a rollout is being created is left out, not a failure", async () => {
    // The rollout counts its tenants, then inserts them. Another session's SHARE lock on
    // rollout_tenants holds the creation between the two while a tenant is registered.
    await addTenants("race", 4, ["racing"]);
    await holdingRolloutTenants(async (whileHeld) => {
      const creating = api
        .post("/v1/rollouts", { target: "head", tenants: { tags: ["racing"] } })
        .then((response) => response); // sends the request now
      await whileHeld(() => addTenants("race1", 1, ["racing"]));
      const created = await creating;
      assert.equal(created.status, 202, created.text);
      assert.equal(created.body.totalTenants, 4);
      const rollout = await waitForRollout(created.body.id, ["succeeded", "failed", "halted"]);
      assert.equal(rollout.state, "succeeded");
      assert.equal(rollout.counts.succeeded, 4);
    });
  });

  it("a webhook subscription deleted while a rollout is being created does not fail it", async () => {
    // The creation reads the subscriptions on its snapshot; the one deleted meanwhile fails its
    // delivery's foreign key (a serialization failure), and the creation starts again.
    await addTenants("sub", 2, ["subscribed"]);
    const { rows } = await svc.controlDb.query(
      `INSERT INTO webhook_subscriptions (id, url_sealed, url_masked, event_types, secret_sealed)
       VALUES (gen_random_uuid(), 'sealed', 'https://gone.example/hook', '{rollout.started}', 's')
       RETURNING id`,
    );
    const subscriptionId = (rows[0] as { id: string }).id;
    await holdingRolloutTenants(async (whileHeld) => {
      const creating = api
        .post("/v1/rollouts", { target: "head", tenants: { tags: ["subscribed"] } })
        .then((response) => response);
      await whileHeld(async () => {
        await svc.controlDb.query("DELETE FROM webhook_subscriptions WHERE id = $1", [
          subscriptionId,
        ]);
      });
      const created = await creating;
      assert.equal(created.status, 202, created.text);
      assert.equal(created.body.totalTenants, 2);
      const rollout = await waitForRollout(created.body.id, ["succeeded", "failed", "halted"]);
      assert.equal(rollout.state, "succeeded");
    });
  });

  it("a tenant a failed downgrade left half-way is brought to the target, not skipped", async () => {
    await addTenants("halfway", 1, ["halfway"]);
    const job = async (body: object) => {
      const submitted = await api.post("/v1/tenants/halfway00/jobs", body);
      assert.equal(submitted.status, 202, submitted.text);
      return waitForJob(svc, submitted.body.id as string);
    };
    assert.equal((await job({ operation: "upgrade", target: "head" })).state, "succeeded");
    // r1's downgrade (DROP TABLE t_r1) fails on the view; r2's commits before it.
    await tenantDb.query("CREATE VIEW halfway00.v_r1 AS SELECT * FROM halfway00.t_r1");
    assert.equal((await job({ operation: "downgrade", target: "base" })).state, "failed");
    const version = async () =>
      (await tenantDb.query("SELECT version_num FROM halfway00.fleetway_version")).rows.map(
        (r: { version_num: string }) => r.version_num,
      );
    assert.deepEqual(await version(), ["r1"]);
    const listed = async (revision: string) =>
      (await api.get(`/v1/tenants?tag=halfway&revision=${revision}`)).body.items.map(
        (t: { id: string }) => t.id,
      );
    assert.deepEqual([await listed("r1"), await listed("r2")], [["halfway00"], []]);

    const created = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { ids: ["halfway00"] },
    });
    assert.equal(created.status, 202, created.text);
    const rollout = await waitForRollout(created.body.id, ["succeeded", "failed", "halted"]);
    assert.deepEqual(
      { state: rollout.state, skipped: rollout.counts.skipped, version: await version() },
      { state: "succeeded", skipped: 0, version: ["r2"] },
    );
  });

  it("refuses tags that PostgreSQL could not store (NUL, unpaired surrogate) with a 400", async () => {
    for (const tag of ["a\u0000b", "\ud800", "tab\there"]) {
      const rollout = await api.post("/v1/rollouts", { target: "head", tenants: { tags: [tag] } });
      assert.equal(rollout.status, 400, `${JSON.stringify(tag)}: ${rollout.text}`);
      assert.equal(rollout.body.code, "VALIDATION_ERROR");
      const tenant = await api.post("/v1/tenants", {
        id: "badtag",
        name: "badtag",
        databaseUrl: tenantDb.url,
        schema: "badtag",
        tags: [tag],
      });
      assert.equal(tenant.status, 400, `${JSON.stringify(tag)}: ${tenant.text}`);
    }
    const paired = await api.post("/v1/rollouts", { target: "head", tenants: { tags: ["🚀"] } });
    assert.equal(paired.status, 202, paired.text);
  });

  it("refuses ids that are not registered tenants with 400 UNKNOWN_TENANTS, creating nothing", async () => {
    await addTenants("known", 2, ["known"]);
    const before = await svc.controlDb.query("SELECT count(*)::int AS n FROM rollouts");
    const response = await api.post("/v1/rollouts", {
      target: "head",
      tenants: { ids: ["known00", "nobody", "known01", "knwon00", "nobody"] },
    });
    assert.equal(response.status, 400, response.text);
    assert.equal(response.body.code, "UNKNOWN_TENANTS");
    assert.deepEqual(response.body.data, { unknownIds: ["nobody", "knwon00"], unknownCount: 2 });
    assert.match(response.body.detail, /nobody, knwon00/);
    const after = await svc.controlDb.query("SELECT count(*)::int AS n FROM rollouts");
    assert.deepEqual(after.rows, before.rows, "no rollout created");
  });

  it("refuses a target that is wrong whatever the tenants' state", async () => {
    const response = await api.post("/v1/rollouts", { target: "nope0000", tenants: { all: true } });
    assert.equal(response.status, 422);
    assert.equal(response.body.code, "UNKNOWN_REVISION");
  });
});
