/**
 * How jobs fail, and how they stop: a graph with two heads, failing SQL, a tenant that cannot be
 * reached, a second job while one is active, cancellation of a running statement (also when the
 * tenant stopped answering).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startFreezableProxy } from "../support/freezable-proxy.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, waitForJob, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

describe("service: failing, busy and cancelled jobs", () => {
  let svc: TestService;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;

  before(async () => {
    revisions = await revisionDir([
      tableRevision("f1"),
      {
        id: "slow",
        down: ["f1"],
        branchLabels: ["slowbranch"],
        up: "CREATE TABLE t_slow (id int);\nSELECT pg_sleep(30);",
        downgrade: "DROP TABLE t_slow;",
      },
      {
        id: "bad",
        down: ["f1"],
        branchLabels: ["badbranch"],
        up: "CREATE TABLE t_bad (id int);\nINSERT INTO t_missing VALUES (1);",
        downgrade: "DROP TABLE t_bad;",
      },
    ]);
    svc = await startTestService({ migrationsDir: revisions.dir });
    tenantDb = await createTestDatabase();
  });
  after(async () => {
    await svc.close();
    await tenantDb.drop();
    await revisions.remove();
  });

  const write = () => svc.http().post("/v1/tenants").set("authorization", svc.auth("write"));
  const addTenant = async (id: string, databaseUrl = tenantDb.url) => {
    const response = await write().send({ id, name: id, databaseUrl, schema: id, migrateTo: "f1" });
    assert.equal(response.status, 201, response.text);
    if (databaseUrl === tenantDb.url) await waitForJob(svc, response.body.job.id);
    return response.body;
  };
  const submit = (tenant: string, body: object) =>
    svc
      .http()
      .post(`/v1/tenants/${tenant}/jobs`)
      .set("authorization", svc.auth("write"))
      .send(body);
  const status = async (tenant: string) =>
    (await svc.http().get(`/v1/tenants/${tenant}/status`).set("authorization", svc.auth("read")))
      .body;
  const tables = async (schema: string) =>
    (
      await tenantDb.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 't\\_%' ORDER BY 1",
        [schema],
      )
    ).rows.map((r: { tablename: string }) => r.tablename);

  it("head with several heads is refused with MULTIPLE_HEADS before queueing", async () => {
    await addTenant("multi");
    const response = await submit("multi", { operation: "upgrade", target: "head" });
    assert.equal(response.status, 422);
    assert.equal(response.body.code, "MULTIPLE_HEADS");
    assert.match(response.body.detail, /Multiple head revisions are present/);
  });

  it("failing SQL fails the job at once with the SQLSTATE and keeps the last good revision", async () => {
    await addTenant("broken");
    const response = await submit("broken", { operation: "upgrade", target: "badbranch@head" });
    assert.equal(response.status, 202);
    const job = await waitForJob(svc, response.body.id);
    assert.equal(job.state, "failed");
    assert.equal(job.attempts, 1, "SQL errors are not retried");
    const error = job.error as Record<string, unknown>;
    assert.equal(error.code, "MIGRATION_FAILED");
    assert.equal(error.sqlstate, "42P01");
    assert.equal(error.revision, "bad");
    assert.match(String(error.message), /relation "t_missing" does not exist/);
    assert.equal(typeof error.line, "number");
    assert.deepEqual((await status("broken")).heads, ["f1"]);
    assert.deepEqual(await tables("broken"), ["t_f1"]);
  });

  it("a second job for a busy tenant is 409 naming the active job; a running job can be cancelled", async () => {
    await addTenant("busy");
    const first = await submit("busy", { operation: "upgrade", target: "slowbranch@head" });
    assert.equal(first.status, 202);
    const jobId = first.body.id as string;
    for (let i = 0; i < 200; i++) {
      const job = (await svc.http().get(`/v1/jobs/${jobId}`).set("authorization", svc.auth("read")))
        .body;
      if (job.progress.currentRevision === "slow") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const second = await submit("busy", { operation: "upgrade", target: "badbranch@head" });
    assert.equal(second.status, 409);
    assert.equal(second.body.code, "TENANT_BUSY");
    assert.equal(second.body.data.activeJobId, jobId);
    const remove = await svc
      .http()
      .delete("/v1/tenants/busy")
      .set("authorization", svc.auth("write"));
    assert.equal(remove.status, 409);
    assert.equal(remove.body.code, "TENANT_BUSY");

    const started = Date.now();
    const cancel = await svc
      .http()
      .post(`/v1/jobs/${jobId}/cancel`)
      .set("authorization", svc.auth("write"));
    assert.equal(cancel.status, 202);
    const job = await waitForJob(svc, jobId, 15_000);
    assert.equal(job.state, "cancelled");
    assert.ok(Date.now() - started < 10_000, "did not wait for pg_sleep(30)");
    assert.equal((job.error as { code: string }).code, "MIGRATION_CANCELLED");
    assert.deepEqual((await status("busy")).heads, ["f1"]);
    assert.deepEqual(await tables("busy"), ["t_f1"], "the step was rolled back");
    const again = await svc
      .http()
      .post(`/v1/jobs/${jobId}/cancel`)
      .set("authorization", svc.auth("write"));
    assert.equal(again.status, 409);
    assert.equal(again.body.code, "JOB_NOT_CANCELLABLE");
  });

  it("a running job whose tenant stopped answering can be cancelled: it ends cancelled, heads unknown", async () => {
    // The host hung, or a network link drops packets: PostgreSQL's cancel cannot reach it either.
    const proxy = await startFreezableProxy();
    try {
      const created = await addTenant("frozen", proxy.through(tenantDb.url));
      await waitForJob(svc, created.job.id);
      const submitted = await submit("frozen", { operation: "upgrade", target: "slowbranch@head" });
      assert.equal(submitted.status, 202);
      const jobId = submitted.body.id as string;
      const read = (path: string) => svc.http().get(path).set("authorization", svc.auth("read"));
      for (
        let i = 0;
        (await read(`/v1/jobs/${jobId}`)).body.progress.currentRevision !== "slow";
        i++
      ) {
        assert.ok(i < 200, "the slow step never started");
        await new Promise((r) => setTimeout(r, 50));
      }
      proxy.freeze();
      const started = Date.now();
      const cancel = await svc
        .http()
        .post(`/v1/jobs/${jobId}/cancel`)
        .set("authorization", svc.auth("write"));
      assert.equal(cancel.status, 202);
      const job = await waitForJob(svc, jobId, 20_000);
      assert.equal(job.state, "cancelled");
      assert.equal((job.error as { code: string }).code, "MIGRATION_CANCELLED");
      assert.ok(Date.now() - started < 15_000, `ended ${Date.now() - started} ms after the cancel`);
      // The step went with its COMMIT in one query, which the server may still finish.
      assert.equal((await read("/v1/tenants/frozen")).body.heads, null);
    } finally {
      await proxy.close();
    }
  });

  it("a connection lost during a step leaves the tenant's heads unknown, not the old ones", async () => {
    await addTenant("lost");
    const submitted = await submit("lost", { operation: "upgrade", target: "slowbranch@head" });
    assert.equal(submitted.status, 202);
    const jobId = submitted.body.id as string;
    const read = (path: string) => svc.http().get(path).set("authorization", svc.auth("read"));
    for (
      let i = 0;
      (await read(`/v1/jobs/${jobId}`)).body.progress.currentRevision !== "slow";
      i++
    ) {
      assert.ok(i < 200, "the slow step never started");
      await new Promise((r) => setTimeout(r, 50));
    }
    // The step and its COMMIT went in one query: whether it committed is not known to the worker.
    await tenantDb.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()`,
    );
    const job = await waitForJob(svc, jobId, 15_000);
    assert.equal(job.state, "failed");
    const tenant = (await read("/v1/tenants/lost")).body;
    assert.deepEqual([tenant.heads, tenant.headsSeenAt], [null, null]);
    assert.deepEqual((await status("lost")).heads, ["f1"], "a live read finds them again");
    assert.deepEqual((await read("/v1/tenants/lost")).body.heads, ["f1"]);
  });

  it("an unreachable tenant database fails clearly after bounded retries", async () => {
    const body = await addTenant("gone", "postgres://fleetway:t0p-secret@127.0.0.1:1/nowhere");
    const job = await waitForJob(svc, body.job.id, 30_000);
    assert.equal(job.state, "failed");
    assert.equal(job.attempts, 3, "FLEETWAY_JOB_ATTEMPTS=3 in the test service");
    const error = job.error as { code: string; message: string };
    assert.equal(error.code, "CONNECTION_FAILED");
    assert.match(error.message, /127\.0\.0\.1:1\/nowhere/);
    assert.doesNotMatch(JSON.stringify(job), /t0p-secret/);
    const events = (
      await svc
        .http()
        .get(`/v1/jobs/${body.job.id as string}/events`)
        .set("authorization", svc.auth("read"))
    ).body.items as { type: string }[];
    assert.equal(events.filter((e) => e.type === "job.retrying").length, 2);
    assert.equal(events.at(-1)?.type, "job.failed");
    for (const line of svc.logs) assert.ok(!line.includes("t0p-secret"), line);
  });
});
