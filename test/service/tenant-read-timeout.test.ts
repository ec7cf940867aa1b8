/**
 * The endpoints that read a tenant database live (status, history, plan) and `fleetway current`
 * must answer within FLEETWAY_TENANT_READ_TIMEOUT_MS when the tenant's tables are locked (another
 * session's LOCK TABLE, a migration's ALTER on the version table): a clear TENANT_TIMEOUT, not a
 * request that hangs with a pool connection and the polling client tied up. Nor may a tenant
 * server that stops answering in the middle of the read hold it.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { fleetway } from "../support/cli-harness.js";
import { startFreezableProxy, type FreezableProxy } from "../support/freezable-proxy.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, waitForJob, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

/** The test's own deadline: far above the configured read timeout, far below forever. */
const DEADLINE_MS = 10_000;

async function within<T>(what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`${what}: no answer within ${DEADLINE_MS} ms (it hangs)`));
    }, DEADLINE_MS);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

describe("reads of a tenant database whose tables are locked", () => {
  let svc: TestService;
  let db: TestDatabase;
  let revisions: RevisionDir;
  /** Holds ACCESS EXCLUSIVE on the tenant's version and history tables in an open transaction. */
  let locker: pg.Client;

  before(async () => {
    revisions = await revisionDir([tableRevision("v1"), tableRevision("v2", ["v1"])]);
    db = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_TENANT_READ_TIMEOUT_MS: "300" },
    });
    const created = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({ id: "locked", name: "Locked", databaseUrl: db.url, migrateTo: "v1" });
    assert.equal(created.status, 201, created.text);
    assert.equal((await waitForJob(svc, created.body.job.id as string)).state, "succeeded");
    locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query("BEGIN");
    await locker.query(
      "LOCK TABLE public.fleetway_version, public.fleetway_history IN ACCESS EXCLUSIVE MODE",
    );
  });
  after(async () => {
    // Lets reads that hang (before the fix) finish, so that nothing outlives the test.
    await locker.query("ROLLBACK").catch(() => undefined);
    await locker.end().catch(() => undefined);
    await svc.close();
    await db.drop();
    await revisions.remove();
  });

  /** Backends of the tenant's database still queued for a lock (behind the locker). */
  const waitingForLocks = async (): Promise<number> => {
    const { rows } = await db.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    return (rows[0] as { n: number }).n;
  };

  for (const [name, path] of [
    ["status", "/v1/tenants/locked/status"],
    ["history", "/v1/tenants/locked/history"],
    ["plan", "/v1/plan?tenant=locked&target=head"],
  ] as const) {
    it(`GET ${name} answers 504 TENANT_TIMEOUT instead of hanging`, async () => {
      const response = await within(
        `GET ${path}`,
        svc
          .http()
          .get(path)
          .set("authorization", svc.auth("read"))
          .then((r) => r),
      );
      assert.equal(response.status, 504, response.text);
      assert.match(String(response.headers["content-type"]), /application\/problem\+json/);
      const body = response.body as { code: string; detail: string; data?: { timeoutMs?: number } };
      assert.equal(body.code, "TENANT_TIMEOUT");
      assert.match(body.detail, /within 300 ms/);
      assert.match(body.detail, /FLEETWAY_TENANT_READ_TIMEOUT_MS/);
      assert.equal(body.data?.timeoutMs, 300);
      // The tenant's server gave up too: no read of Fleetway's stays queued behind the lock (it
      // would make everything queued after it wait as well).
      const deadline = Date.now() + DEADLINE_MS;
      while ((await waitingForLocks()) > 0) {
        assert.ok(Date.now() < deadline, "a read still waits for the lock on the tenant's server");
        await new Promise((r) => setTimeout(r, 50));
      }
    });
  }

  it("fleetway current fails with TENANT_TIMEOUT (exit 1) under the same setting", async () => {
    const run = await within(
      "fleetway current",
      fleetway(["current", "--dir", revisions.dir], {
        env: { DATABASE_URL: db.url, FLEETWAY_TENANT_READ_TIMEOUT_MS: "300" },
      }),
    );
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /FAILED \[TENANT_TIMEOUT\]: .*within 300 ms/);
  });

  it("answers normally once the lock is gone", async () => {
    await locker.query("ROLLBACK");
    const status = await within(
      "GET status",
      svc
        .http()
        .get("/v1/tenants/locked/status")
        .set("authorization", svc.auth("read"))
        .then((r) => r),
    );
    assert.equal(status.status, 200, status.text);
    assert.deepEqual(status.body.heads, ["v1"]);
    assert.deepEqual(status.body.pending, ["v2"]);
  });
});

describe("a read of a tenant database whose server stops answering mid-read", () => {
  let svc: TestService;
  let db: TestDatabase;
  let revisions: RevisionDir;
  let proxy: FreezableProxy;
  let locker: pg.Client;

  before(async () => {
    revisions = await revisionDir([tableRevision("v1")]);
    db = await createTestDatabase();
    proxy = await startFreezableProxy();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      // Long enough that the link goes silent before the server's own lock_timeout answers.
      env: { FLEETWAY_TENANT_READ_TIMEOUT_MS: "2000" },
    });
    const created = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({ id: "silent", name: "Silent", databaseUrl: proxy.through(db.url), migrateTo: "v1" });
    assert.equal(created.status, 201, created.text);
    assert.equal((await waitForJob(svc, created.body.job.id as string)).state, "succeeded");
    locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
  });
  after(async () => {
    await locker.query("ROLLBACK").catch(() => undefined);
    await locker.end().catch(() => undefined);
    await svc.close();
    await proxy.close();
    await db.drop();
    await revisions.remove();
  });

  it("answers 504 TENANT_TIMEOUT once the server's answer is overdue", async () => {
    // The read is held on the server (a locked table) until the link goes silent, so that it is
    // connected and waiting for an answer when it does: the server's own timeout then never
    // reaches it.
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE public.fleetway_version IN ACCESS EXCLUSIVE MODE");
    const response = svc
      .http()
      .get("/v1/tenants/silent/status")
      .set("authorization", svc.auth("read"))
      .then((r) => r);
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      // Not on the locker: its transaction would see one snapshot of pg_stat_activity throughout.
      const { rows } = await db.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE application_name = 'fleetway-read' AND wait_event_type = 'Lock'`,
      );
      if ((rows[0] as { n: number }).n > 0) break;
      assert.ok(Date.now() < deadline, "the status read never waited for the lock");
      await new Promise((r) => setTimeout(r, 10));
    }
    proxy.freeze();
    const answer = await within("GET status", response);
    assert.equal(answer.status, 504, answer.text);
    const body = answer.body as { code: string; detail: string };
    assert.equal(body.code, "TENANT_TIMEOUT");
    assert.match(body.detail, /within 2000 ms/);
    assert.match(body.detail, /did not answer/);
  });
});
