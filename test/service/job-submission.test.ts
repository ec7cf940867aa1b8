/**
 * submitJob: the common request (an upgrade to an absolute target, no callback, nobody subscribed
 * to job.queued) is one control-database statement; everything else reads the tenant and records
 * the job with its deliveries in a transaction. Both refuse the same requests the same way.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { pino } from "pino";
import { claimJobForRun } from "../../src/control/claim-job.js";
import { finishJob, getJob, insertJob } from "../../src/control/job-store.js";
import { createSecretBox } from "../../src/control/secret-box.js";
import { insertTenant } from "../../src/control/tenant-store.js";
import { insertSubscription } from "../../src/control/webhook-store.js";
import { loadMigrations, type Migrations } from "../../src/engine/load-migrations.js";
import { createMigrationQueue, type MigrationQueue } from "../../src/jobs/migration-queue.js";
import { submitJob, type JobRequest, type SubmitDeps } from "../../src/jobs/submit-job.js";
import { JobEventPublisher } from "../../src/webhooks/job-event-publisher.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";
import { deleteQueueKeys, REDIS_URL, testQueuePrefix } from "../support/service-harness.js";

const silent = pino({ level: "silent" });
const secretBox = createSecretBox(Buffer.alloc(32, 3));

/** `pool`, counting the statements sent through it and through the clients it lends. */
function countingPool(pool: pg.Pool): { pool: pg.Pool; statements: () => number } {
  let statements = 0;
  const counted = <T extends object>(target: T): T =>
    new Proxy(target, {
      get: (object, property, receiver): unknown => {
        const value: unknown = Reflect.get(object, property, receiver);
        if (property === "query" && typeof value === "function") {
          return (...args: unknown[]): unknown => {
            statements++;
            return (value as (...a: unknown[]) => unknown).apply(object, args);
          };
        }
        if (property === "connect" && typeof value === "function") {
          return async () => counted(await (value as () => Promise<pg.PoolClient>).apply(object));
        }
        return value;
      },
    });
  return { pool: counted(pool), statements: () => statements };
}

/** Resolves once some backend of this database waits for a lock (the POST's insert, here). */
async function waitForLockWait(pool: pg.Pool): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const { rows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if ((rows[0]?.n ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("nobody waited for a lock");
}

describe("submitJob", () => {
  let control: ControlTestDatabase;
  let migrations: Migrations;
  let queue: MigrationQueue;
  const prefix = testQueuePrefix();
  let tenants = 0;

  before(async () => {
    control = await createControlTestDatabase();
    migrations = await loadMigrations(new URL("../../migrations", import.meta.url).pathname);
    queue = createMigrationQueue({ redisUrl: REDIS_URL, prefix, attempts: 1 });
    await queue.waitUntilReady();
  });
  after(async () => {
    await queue.close();
    await deleteQueueKeys(prefix);
    await control.drop();
  });

  const deps = (pool: pg.Pool): SubmitDeps => ({
    pool,
    migrations,
    queue,
    logger: silent,
    secretBox,
    events: new JobEventPublisher(null, silent),
  });

  async function newTenant(): Promise<string> {
    const id = `s${String(++tenants)}`;
    await insertTenant(control.pool, {
      id,
      name: id,
      tags: [],
      databaseUrlSealed: "sealed",
      databaseUrlMasked: "postgres://db",
      schema: id,
    });
    return id;
  }

  const upgrade = (tenantId: string, target = "head"): JobRequest => ({
    tenantId,
    operation: "upgrade",
    target,
  });

  /** Runs `submit` on a counting pool: its result (or error) and the statements it sent. */
  async function counted(
    submit: (d: SubmitDeps) => Promise<unknown>,
  ): Promise<{ result: unknown; statements: number }> {
    const counting = countingPool(control.pool);
    const result = await submit(deps(counting.pool)).catch((error: unknown) => error);
    return { result, statements: counting.statements() };
  }

  it("records an upgrade to head in one statement, queued with its event, and enqueues it", async () => {
    const tenantId = await newTenant();
    const { result, statements } = await counted((d) => submitJob(d, upgrade(tenantId)));
    assert.equal(statements, 1);
    const job = result as Awaited<ReturnType<typeof submitJob>>;
    assert.equal((await getJob(control.pool, job.id))?.state, "queued");
    const { rows } = await control.pool.query(
      "SELECT seq, type FROM job_events WHERE job_id = $1",
      [job.id],
    );
    assert.deepEqual(rows, [{ seq: 1, type: "job.queued" }]);
    assert.equal(await queue.getJobState(job.id), "waiting");
  });

  /**
   * A POST for `tenantId` that meets a tenant busy in a transaction of another process, which
   * commits only once the POST's insert waits for it: the POST's refusal (or result).
   */
  async function submitWhileAnotherCommits(
    tenantId: string,
    meanwhile: (other: pg.Client) => Promise<void>,
  ): Promise<{ code?: string; data?: Record<string, unknown> }> {
    // A client of its own: the pool's two connections go to the POST and to watching it wait.
    const other = new pg.Client({ connectionString: control.db.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await meanwhile(other);
      const refused = submitJob(deps(control.pool), upgrade(tenantId)).catch(
        (error: unknown) => error,
      );
      await waitForLockWait(control.pool);
      await other.query("COMMIT");
      return (await refused) as { code?: string; data?: Record<string, unknown> };
    } finally {
      await other.end();
    }
  }

  it("names the job that made the tenant busy when the active one finished during the insert", async () => {
    const tenantId = await newTenant();
    const first = await submitJob(deps(control.pool), upgrade(tenantId));
    // The active job finishes and the next one is queued, committed only after the POST's insert
    // began (and waited for it): the insert's snapshot still shows the first.
    let next = "";
    const busy = await submitWhileAnotherCommits(tenantId, async (other) => {
      await finishJob(other, first.id, { state: "succeeded", error: null });
      const request = {
        tenantId,
        operation: "upgrade",
        target: "head",
        transactionMode: "per-revision",
      } as const;
      next = (await insertJob(other, request, {})).job.id;
    });
    assert.equal(busy.code, "TENANT_BUSY");
    assert.deepEqual(busy.data, { tenantId, activeJobId: next, activeJobState: "queued" });
  });

  it("names the active job's state as it is once claimed during the insert", async () => {
    const tenantId = await newTenant();
    const first = await submitJob(deps(control.pool), upgrade(tenantId));
    const busy = await submitWhileAnotherCommits(tenantId, async (other) => {
      await claimJobForRun(other, first.id, "worker-1");
    });
    assert.equal(busy.code, "TENANT_BUSY");
    assert.deepEqual(busy.data, { tenantId, activeJobId: first.id, activeJobState: "running" });
  });

  it("refuses what the transactional path refuses, in the same order", async () => {
    const tenantId = await newTenant();
    const first = await submitJob(deps(control.pool), upgrade(tenantId));
    const busy = (await counted((d) => submitJob(d, upgrade(tenantId)))).result;
    assert.equal((busy as { code?: string }).code, "TENANT_BUSY");
    assert.equal((busy as { data: { activeJobId: string } }).data.activeJobId, first.id);

    const unknownTenant = (await counted((d) => submitJob(d, upgrade("nobody")))).result;
    assert.equal((unknownTenant as { code?: string }).code, "TENANT_NOT_FOUND");
    // An unknown tenant is named before an unknown revision, as when the tenant is read first.
    const both = (await counted((d) => submitJob(d, upgrade("nobody", "zzzz")))).result;
    assert.equal((both as { code?: string }).code, "TENANT_NOT_FOUND");
    const other = await newTenant();
    const unknownRevision = (await counted((d) => submitJob(d, upgrade(other, "zzzz")))).result;
    assert.equal((unknownRevision as { code?: string }).code, "UNKNOWN_REVISION");
  });

  it("judges an absolute upgrade target alike on both paths, whatever the tenant's heads", async () => {
    // Heads recorded one above the other (a stamp to "A,B" leaves them so): the worker judges
    // them from the live version table; refusing them at POST depended on the path taken.
    const [head] = migrations.graph.heads;
    assert.ok(head !== undefined);
    const parent = migrations.graph.node(head).downRevisions[0];
    assert.ok(parent !== undefined);
    const fast = await newTenant();
    const slow = await newTenant();
    await control.pool.query("UPDATE tenants SET heads = $2 WHERE id = ANY ($1)", [
      [fast, slow],
      [parent, head],
    ]);
    const accepted = await submitJob(deps(control.pool), upgrade(fast));
    assert.equal(accepted.state, "queued");
    const withCallback = await submitJob(deps(control.pool), {
      ...upgrade(slow),
      callbackUrl: "https://hooks.example.com/callback",
    });
    assert.equal(withCallback.state, "queued");
  });

  it("reads the tenant in a transaction for a relative target", async () => {
    const tenantId = await newTenant();
    const { result, statements } = await counted((d) => submitJob(d, upgrade(tenantId, "+1")));
    assert.equal(typeof (result as { id?: unknown }).id, "string");
    assert.ok(statements >= 4, `BEGIN, tenant, insert, COMMIT: ${String(statements)}`);
  });

  it("records job.queued's delivery with the job when a subscription asks for it", async () => {
    const subscription = await insertSubscription(control.pool, {
      urlSealed: secretBox.encrypt("https://hooks.example.com/queued"),
      urlMasked: "https://hooks.example.com/…",
      eventTypes: ["job.queued"],
      description: null,
      secretSealed: secretBox.encrypt("whsec_dGVzdA=="),
    });
    try {
      const tenantId = await newTenant();
      const { result, statements } = await counted((d) => submitJob(d, upgrade(tenantId)));
      const job = result as Awaited<ReturnType<typeof submitJob>>;
      // The gated insert found the subscriber and inserted nothing; the transaction did it all.
      assert.ok(
        statements >= 5,
        `insert, BEGIN, tenant, insert, delivery, COMMIT: ${String(statements)}`,
      );
      const { rows } = await control.pool.query(
        "SELECT event_type FROM webhook_deliveries WHERE job_id = $1",
        [job.id],
      );
      assert.deepEqual(rows, [{ event_type: "job.queued" }]);
      const { rows: jobs } = await control.pool.query(
        "SELECT count(*)::int AS n FROM jobs WHERE tenant_id = $1",
        [tenantId],
      );
      assert.deepEqual(jobs, [{ n: 1 }]);
    } finally {
      await control.pool.query("DELETE FROM webhook_subscriptions WHERE id = $1", [
        subscription.id,
      ]);
    }
  });
});
