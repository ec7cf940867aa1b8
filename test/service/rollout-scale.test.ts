/** A rollout over 10,000 tenants is created in one request, with the tenants never loaded into memory. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createSecretBox } from "../../src/control/secret-box.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, type TestService } from "../support/service-harness.js";

describe("rollout scale", () => {
  let svc: TestService;
  let revisions: RevisionDir;
  before(async () => {
    revisions = await revisionDir([tableRevision("z1")]);
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_ROLLOUT_TICK_MS: "50" },
    });
    const sealed = createSecretBox(svc.config.encryptionKey).encrypt(
      "postgres://postgres@127.0.0.1:1/unreachable",
    );
    await svc.controlDb.query(
      `INSERT INTO tenants (id, name, tags, database_url_sealed, database_url_masked, schema_name)
       SELECT 'big' || lpad(g::text, 5, '0'), 'tenant ' || g, ARRAY['big'], $1, 'postgres://postgres@127.0.0.1:1/unreachable', 'public'
         FROM generate_series(1, 10000) g`,
      [sealed],
    );
  });
  after(async () => {
    await svc.close();
    await revisions.remove();
  });

  it("creates the rollout and its waves for 10,000 tenants in one request while the API keeps answering", async () => {
    const creating = svc
      .http()
      .post("/v1/rollouts")
      .set("authorization", svc.auth("write"))
      .send({
        target: "head",
        tenants: { tags: ["big"] },
        waves: [{ count: 1 }, { percent: 10 }, { percent: 100 }],
        maxParallel: 1,
      });
    const meanwhile = svc.http().get("/v1/tenants/big00042").set("authorization", svc.auth("read"));
    const [created, tenant] = await Promise.all([creating, meanwhile]);
    assert.equal(tenant.status, 200);
    assert.equal(created.status, 202, created.text);
    assert.equal(created.body.totalTenants, 10_000);
    assert.deepEqual(
      created.body.waves.map((w: { tenants: number }) => w.tenants),
      [1, 999, 9000],
    );
    const id = created.body.id as string;
    const paused = await svc
      .http()
      .post(`/v1/rollouts/${id}/pause`)
      .set("authorization", svc.auth("write"));
    assert.equal(paused.status, 202);
    const { rows } = await svc.controlDb.query(
      "SELECT wave, count(*)::int AS n FROM rollout_tenants WHERE rollout_id = $1 GROUP BY wave ORDER BY wave",
      [id],
    );
    assert.deepEqual(rows, [
      { wave: 0, n: 1 },
      { wave: 1, n: 999 },
      { wave: 2, n: 9000 },
    ]);
    const jobs = await svc.controlDb.query(
      "SELECT count(*)::int AS n FROM jobs WHERE rollout_id = $1",
      [id],
    );
    assert.ok(jobs.rows[0].n <= 1, "at most the canary was launched");
    assert.equal(
      (await svc.http().post(`/v1/rollouts/${id}/cancel`).set("authorization", svc.auth("write")))
        .status,
      202,
    );
  });
});
