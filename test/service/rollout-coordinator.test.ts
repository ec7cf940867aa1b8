/**
 * advanceRollouts, one pass at a time, against a real control database and Redis: what a pass
 * launches and records, and how many statements it sends. A fleet rollout runs about one pass per
 * job, so each statement of a pass is a round trip per tenant.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import pg from "pg";
import { pino } from "pino";
import { insertJob } from "../../src/control/job-store.js";
import {
  averageJobSeconds,
  cancelPendingTenants,
  insertRollout,
  lockRunningRollout,
  requireRollout,
  resetFailedTenants,
  setRolloutTenant,
  syncAndCountRolloutTenants,
  transitionRollout,
  type RolloutRecord,
  type WaveSpec,
} from "../../src/control/rollout-store.js";
import { createSecretBox } from "../../src/control/secret-box.js";
import { deleteTenant } from "../../src/control/tenant-deletion-store.js";
import { insertTenant } from "../../src/control/tenant-store.js";
import { loadMigrations } from "../../src/engine/load-migrations.js";
import { createMigrationQueue, type MigrationQueue } from "../../src/jobs/migration-queue.js";
import { advanceRollouts } from "../../src/jobs/rollout-coordinator.js";
import { describeRollout } from "../../src/jobs/rollout-status.js";
import type { SubmitDeps } from "../../src/jobs/submit-job.js";
import { JobEventPublisher } from "../../src/webhooks/job-event-publisher.js";
import { createWebhookQueue, type WebhookQueue } from "../../src/webhooks/webhook-queue.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { deleteQueueKeys, REDIS_URL, testQueuePrefix } from "../support/service-harness.js";

/** Records the text of every query sent on the pool's connections. */
function countStatements(pool: pg.Pool): string[] {
  const sent: string[] = [];
  const wrapped = new WeakSet<pg.PoolClient>();
  pool.on("acquire", (client) => {
    if (wrapped.has(client)) return;
    wrapped.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (
      ...args: unknown[]
    ) => {
      const [first] = args;
      sent.push(typeof first === "string" ? first : String((first as { text?: string }).text));
      return query(...args);
    };
  });
  return sent;
}

/** Rows a statement read from rollout_tenants, by the statistics of the transaction it ran in. */
async function rolloutTenantRowsRead(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0) AS n
       FROM pg_stat_xact_user_tables WHERE relname = 'rollout_tenants'`,
  );
  return Number(rows[0]?.n ?? 0);
}

/** The per-wave counters disagree with the tenants' states: the rows that differ, both ways. */
async function counterMismatches(pool: pg.Pool): Promise<unknown[]> {
  const { rows } = await pool.query(
    `WITH counted AS (
       SELECT rollout_id, wave,
              count(*) FILTER (WHERE state = 'pending')::int AS pending,
              count(*) FILTER (WHERE state = 'active')::int AS active,
              count(*) FILTER (WHERE state = 'succeeded')::int AS succeeded,
              count(*) FILTER (WHERE state = 'failed')::int AS failed,
              count(*) FILTER (WHERE state = 'skipped')::int AS skipped,
              count(*) FILTER (WHERE state = 'cancelled')::int AS cancelled,
              count(job_seconds)::int AS timed_jobs,
              round(COALESCE(sum(job_seconds), 0)::numeric, 6) AS job_seconds
         FROM rollout_tenants GROUP BY rollout_id, wave
     ), kept AS (
       SELECT rollout_id, wave, pending, active, succeeded, failed, skipped, cancelled, timed_jobs,
              round(job_seconds::numeric, 6) AS job_seconds
         FROM rollout_waves
        -- A wave whose last tenant left keeps a row of zeros (no row to compare it with).
        WHERE (pending, active, succeeded, failed, skipped, cancelled, timed_jobs)
              <> (0, 0, 0, 0, 0, 0, 0)
     )
     (SELECT 'counted' AS side, * FROM counted EXCEPT SELECT 'counted', * FROM kept)
     UNION ALL
     (SELECT 'kept' AS side, * FROM kept EXCEPT SELECT 'kept', * FROM counted)`,
  );
  return rows;
}

/** Waits until some backend of this database waits for a lock. */
async function waitForLockWait(pool: pg.Pool): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await pool.query<{ waiting: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                       WHERE datname = current_database() AND wait_event_type = 'Lock') AS waiting`,
    );
    if (rows[0]?.waiting === true) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("no backend came to wait for the lock");
}

describe("rollout coordinator: one pass", () => {
  let control: ControlTestDatabase;
  let revisions: RevisionDir;
  let queue: MigrationQueue;
  let webhookQueue: WebhookQueue;
  let deps: SubmitDeps;
  let sent: string[];
  const prefix = testQueuePrefix();

  before(async () => {
    control = await createControlTestDatabase();
    for (const id of ["c1", "c2", "c3"]) {
      await insertTenant(control.pool, {
        id,
        name: id,
        tags: ["coord"],
        databaseUrlSealed: "sealed-url",
        databaseUrlMasked: "postgres://db/x",
        schema: id,
      });
    }
    revisions = await revisionDir([tableRevision("r1")]);
    queue = createMigrationQueue({ redisUrl: REDIS_URL, prefix, attempts: 1 });
    webhookQueue = createWebhookQueue(REDIS_URL, prefix);
    const logger = pino({ level: "silent" });
    deps = {
      pool: control.pool,
      migrations: await loadMigrations(revisions.dir),
      queue,
      logger,
      secretBox: createSecretBox(Buffer.alloc(32, 7)),
      events: new JobEventPublisher(webhookQueue, logger),
    };
    sent = countStatements(control.pool);
  });
  after(async () => {
    await queue.close();
    await webhookQueue.close();
    await deleteQueueKeys(prefix);
    await control.drop();
    await revisions.remove();
  });
  beforeEach(() => {
    sent.length = 0;
  });
  afterEach(async () => {
    assert.deepEqual(await counterMismatches(control.pool), []);
  });

  let rollout: RolloutRecord;
  const rolloutTenants = async (): Promise<
    Partial<Record<string, { state: string; job_id: string | null; code: string | null }>>
  > => {
    const { rows } = await control.pool.query<{
      tenant_id: string;
      state: string;
      job_id: string | null;
      code: string | null;
    }>(
      "SELECT tenant_id, state, job_id, error->>'code' AS code FROM rollout_tenants WHERE rollout_id = $1",
      [rollout.id],
    );
    return Object.fromEntries(rows.map((r) => [r.tenant_id, r]));
  };
  const finishJobOf = async (tenantId: string): Promise<void> => {
    await control.pool.query(
      "UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE tenant_id = $1 AND state = 'queued'",
      [tenantId],
    );
  };

  it("launches the next tenant in six statements, marking it active in the job's insert", async () => {
    rollout = await insertRollout(control.pool, {
      target: "head",
      selector: { tags: ["coord"] },
      waves: [{ percent: 100 }],
      maxParallel: 1,
      failureThreshold: { count: 1 },
      callbackUrl: null,
      callbackUrlSealed: null,
    });
    sent.length = 0;
    await advanceRollouts(deps, [rollout.id]);
    const patterns = [
      /^BEGIN$/,
      /FOR UPDATE SKIP LOCKED/,
      /FROM rollout_waves WHERE rollout_id = \$1[\s\S]*synced AS \(\s+UPDATE rollout_tenants/,
      /FROM rollout_tenants rt LEFT JOIN tenants t/,
      /INSERT INTO jobs/,
      /^COMMIT$/,
    ];
    assert.equal(sent.length, patterns.length, sent.join("\n---\n"));
    patterns.forEach((pattern, i) => {
      assert.match(sent[i] ?? "", pattern);
    });
    const tenants = await rolloutTenants();
    assert.equal(tenants.c1?.state, "active");
    const { rows } = await control.pool.query<{ id: string }>(
      "SELECT id FROM jobs WHERE tenant_id = 'c1' AND rollout_id = $1",
      [rollout.id],
    );
    assert.deepEqual(
      rows.map((r) => r.id),
      [tenants.c1.job_id],
    );
    assert.equal(tenants.c2?.state, "pending");
    assert.equal(await queue.count(), 1);
  });

  it("counts a tenant by its finished job even when another process synced it meanwhile", async () => {
    // Another process (a GET of the rollout) syncs c1 and holds its row until it commits; this
    // statement's UPDATE then skips c1, and its count reads the snapshot from before the commit.
    await finishJobOf("c1");
    const other = new pg.Client({ connectionString: control.db.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query(
        "UPDATE rollout_tenants SET state = 'succeeded' WHERE rollout_id = $1 AND tenant_id = 'c1'",
        [rollout.id],
      );
      const counting = syncAndCountRolloutTenants(control.pool, rollout.id);
      await waitForLockWait(control.pool);
      await other.query("COMMIT");
      const counts = (await counting).get(0);
      assert.deepEqual(
        { succeeded: counts?.succeeded, active: counts?.active, pending: counts?.pending },
        { succeeded: 1, active: 0, pending: 2 },
      );
    } finally {
      await other.end();
    }
  });

  it("counts a finished job at the next pass and launches the tenant after it", async () => {
    await finishJobOf("c1");
    await advanceRollouts(deps, [rollout.id]);
    const tenants = await rolloutTenants();
    assert.equal(tenants.c1?.state, "succeeded");
    assert.equal(tenants.c2?.state, "active");
    assert.equal(tenants.c3?.state, "pending");
  });

  it("a tenant deleted since the rollout began is skipped with TENANT_DELETED, without a job", async () => {
    await control.pool.query("DELETE FROM tenants WHERE id = 'c3'");
    await finishJobOf("c2");
    await advanceRollouts(deps, [rollout.id]);
    const tenants = await rolloutTenants();
    assert.equal(tenants.c2?.state, "succeeded");
    assert.deepEqual(
      { state: tenants.c3?.state, job: tenants.c3?.job_id, code: tenants.c3?.code },
      { state: "skipped", job: null, code: "TENANT_DELETED" },
    );
  });

  it("keeps the per-wave counters true through skips, cancel, retry and the rollout's deletion", async () => {
    const waved = await insertRollout(control.pool, {
      target: "head",
      selector: { tags: ["coord"] },
      waves: [{ count: 1 }, { percent: 100 }],
      maxParallel: 1,
      failureThreshold: { count: 1 },
      callbackUrl: null,
      callbackUrlSealed: null,
    });
    assert.deepEqual(await counterMismatches(control.pool), []);
    await setRolloutTenant(control.pool, waved.id, "c1", "skipped");
    await setRolloutTenant(control.pool, waved.id, "c2", "failed", { error: { code: "X" } });
    // Same state again, other columns only: no counter moves.
    await setRolloutTenant(control.pool, waved.id, "c2", "failed", { error: { code: "Y" } });
    assert.deepEqual(await counterMismatches(control.pool), []);
    await cancelPendingTenants(control.pool, waved.id);
    assert.deepEqual(await counterMismatches(control.pool), []);
    assert.equal(await resetFailedTenants(control.pool, waved.id), 1);
    // Tenants leave a rollout only with it, but a DELETE of one is counted too.
    await control.pool.query(
      "DELETE FROM rollout_tenants WHERE rollout_id = $1 AND tenant_id = 'c1'",
      [waved.id],
    );
    assert.deepEqual(await counterMismatches(control.pool), []);
    await control.pool.query(
      `INSERT INTO rollout_tenants (rollout_id, tenant_id, wave, position, state)
       VALUES ($1, 'c1', 0, 1, 'skipped')`,
      [waved.id],
    );
    const counts = await syncAndCountRolloutTenants(control.pool, waved.id);
    assert.deepEqual(
      [...counts.entries()].map(([wave, c]) => [wave, c.skipped, c.pending, c.failed]),
      [
        [0, 1, 0, 0],
        [1, 0, 1, 0],
      ],
    );
    await control.pool.query("DELETE FROM rollouts WHERE id = $1", [waved.id]);
    const { rows } = await control.pool.query(
      "SELECT count(*)::int AS n FROM rollout_waves WHERE rollout_id = $1",
      [waved.id],
    );
    assert.equal(rows[0]?.n, 0);
  });

  it("counts a rollout of thousands of tenants without reading them: a pass costs the same at any size", async () => {
    await control.pool.query(
      `INSERT INTO tenants (id, name, tags, database_url_sealed, database_url_masked, schema_name)
       SELECT 'many' || g, 'many ' || g, ARRAY['many'], 'sealed-url', 'postgres://db/x', 'public'
         FROM generate_series(1, 3000) g`,
    );
    const big = await insertRollout(control.pool, {
      target: "head",
      selector: { tags: ["many"] },
      waves: [{ count: 10 }, { percent: 100 }],
      maxParallel: 2,
      failureThreshold: { count: 1 },
      callbackUrl: null,
      callbackUrlSealed: null,
    });
    await advanceRollouts(deps, [big.id]);
    await control.pool.query(
      `UPDATE jobs SET state = 'succeeded', finished_at = now()
        WHERE rollout_id = $1 AND tenant_id = (SELECT min(tenant_id) FROM jobs WHERE rollout_id = $1)`,
      [big.id],
    );
    const client = await control.pool.connect();
    try {
      await client.query("BEGIN");
      const before = await rolloutTenantRowsRead(client);
      const counts = await syncAndCountRolloutTenants(client, big.id);
      const read = (await rolloutTenantRowsRead(client)) - before;
      await client.query("ROLLBACK");
      assert.deepEqual(
        { ...counts.get(0) },
        { pending: 8, active: 1, succeeded: 1, failed: 0, skipped: 0, cancelled: 0 },
      );
      assert.equal(counts.get(1)?.pending, 2990);
      // The two active tenants (and the one the UPDATE moves), not the 3,000 of the rollout.
      assert.ok(read <= 10, `read ${read} rollout tenants`);
    } finally {
      client.release();
    }
  });

  it("averages the durations of the rollout's finished jobs for its ETA, without the retried ones", async () => {
    const timed = await insertRollout(control.pool, {
      target: "head",
      selector: { ids: ["c1", "c2"] },
      waves: [{ count: 1 }, { percent: 100 }],
      maxParallel: 2,
      failureThreshold: { count: 5 },
      callbackUrl: null,
      callbackUrlSealed: null,
    });
    assert.equal(await averageJobSeconds(control.pool, timed.id), null);
    await advanceRollouts(deps, [timed.id]); // c1, the canary
    await control.pool.query(
      `UPDATE jobs SET state = 'succeeded', started_at = now() - interval '4 s', finished_at = now()
        WHERE rollout_id = $1 AND tenant_id = 'c1'`,
      [timed.id],
    );
    await advanceRollouts(deps, [timed.id]); // c1 counted; the second wave launches c2
    await control.pool.query(
      `UPDATE jobs SET state = 'failed', started_at = now() - interval '2 s', finished_at = now()
        WHERE rollout_id = $1 AND tenant_id = 'c2'`,
      [timed.id],
    );
    await syncAndCountRolloutTenants(control.pool, timed.id);
    assert.equal(await averageJobSeconds(control.pool, timed.id), 3);
    await resetFailedTenants(control.pool, timed.id);
    assert.equal(await averageJobSeconds(control.pool, timed.id), 4);
  });

  /** A rollout over new tenants `ids` (tag `tag`) with a job each for `launch` (default all). */
  const launchedRollout = async (
    tag: string,
    ids: readonly string[],
    options: { waves?: WaveSpec[]; launch?: readonly string[] } = {},
  ): Promise<{ rollout: RolloutRecord; jobs: Record<string, string> }> => {
    for (const id of ids) {
      await insertTenant(control.pool, {
        id,
        name: id,
        tags: [tag],
        databaseUrlSealed: "sealed-url",
        databaseUrlMasked: "postgres://db/x",
        schema: id,
      });
    }
    const created = await insertRollout(control.pool, {
      target: "head",
      selector: { tags: [tag] },
      waves: options.waves ?? [{ percent: 100 }],
      maxParallel: ids.length,
      failureThreshold: { count: 0 },
      callbackUrl: null,
      callbackUrlSealed: null,
    });
    const jobs: Record<string, string> = {};
    for (const id of options.launch ?? ids) {
      const { job } = await insertJob(
        control.pool,
        {
          tenantId: id,
          operation: "upgrade",
          target: "head",
          transactionMode: "per-revision",
          rolloutId: created.id,
        },
        {},
      );
      jobs[id] = job.id;
    }
    return { rollout: created, jobs };
  };
  const endJob = async (id: string | undefined, state: "succeeded" | "failed"): Promise<void> => {
    await control.pool.query(
      "UPDATE jobs SET state = $2, started_at = now() - interval '1 s', finished_at = now() WHERE id = $1",
      [id, state],
    );
  };

  for (const side of ["a coordinator pass", "a retry"] as const) {
    it(`a GET's sync beside ${side} that syncs again waits instead of deadlocking`, async () => {
      const tag = side === "a retry" ? "dr" : "dc";
      const { rollout: r, jobs } = await launchedRollout(tag, [`${tag}1`, `${tag}2`, `${tag}3`]);
      await endJob(jobs[`${tag}1`], "failed");
      await syncAndCountRolloutTenants(control.pool, r.id);
      const tx = new pg.Client({ connectionString: control.db.url });
      await tx.connect();
      try {
        await tx.query("BEGIN");
        let held: RolloutRecord | null;
        if (side === "a retry") {
          await control.pool.query("UPDATE rollouts SET state = 'halted' WHERE id = $1", [r.id]);
          held = await transitionRollout(tx, r.id, ["halted"], "running", { haltedReason: null });
          await resetFailedTenants(tx, r.id);
        } else {
          held = await lockRunningRollout(tx, r.id);
          await syncAndCountRolloutTenants(tx, r.id);
        }
        assert.ok(held !== null);
        // Another job ends; a GET syncs its tenant while the transaction still holds the counters.
        await endJob(jobs[`${tag}2`], "succeeded");
        const get = describeRollout(control.pool, r);
        await waitForLockWait(control.pool);
        const inTx = await describeRollout(tx, held); // syncs the same tenant
        await tx.query("COMMIT");
        const seen = await get;
        assert.equal(inTx.counts.succeeded, 1);
        assert.deepEqual(
          { succeeded: seen.counts.succeeded, active: seen.counts.active },
          { succeeded: 1, active: 1 },
        );
      } finally {
        await tx.end();
      }
    });
  }

  it("does not settle a tenant by the job it ran before, when it was relaunched meanwhile", async () => {
    const { rollout: r, jobs } = await launchedRollout("relaunch", ["e1", "e2"]);
    await endJob(jobs.e2, "failed");
    const { job: second } = await insertJob(
      control.pool,
      { tenantId: "e2", operation: "upgrade", target: "head", transactionMode: "per-revision" },
      {},
    );
    // e2 is relaunched with its second job in a transaction the sync has to wait for.
    const other = new pg.Client({ connectionString: control.db.url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query(
        "UPDATE rollout_tenants SET job_id = $2 WHERE rollout_id = $1 AND tenant_id = 'e2'",
        [r.id, second.id],
      );
      const counting = syncAndCountRolloutTenants(control.pool, r.id);
      await waitForLockWait(control.pool);
      await other.query("COMMIT");
      assert.equal((await counting).get(0)?.active, 2);
    } finally {
      await other.end();
    }
    const tenants = await control.pool.query<{ state: string; job_id: string }>(
      "SELECT state, job_id FROM rollout_tenants WHERE rollout_id = $1 AND tenant_id = 'e2'",
      [r.id],
    );
    assert.deepEqual(tenants.rows[0], { state: "active", job_id: second.id });
  });

  for (const action of ["retry", "cancel"] as const) {
    it(`a GET's sync beside a ${action} that moved tenants of a later wave waits instead of deadlocking`, async () => {
      // Wave 0: w1 (succeeded). Wave 1: w2 (failed), w3 (its job just ended, not synced), w4.
      const tag = `w${action}`;
      const ids = [`${tag}1`, `${tag}2`, `${tag}3`, `${tag}4`];
      const { rollout: r, jobs } = await launchedRollout(tag, ids, {
        waves: [{ count: 1 }, { percent: 100 }],
        launch: ids.slice(0, 3),
      });
      await endJob(jobs[`${tag}1`], "succeeded");
      await endJob(jobs[`${tag}2`], "failed");
      await syncAndCountRolloutTenants(control.pool, r.id);
      await endJob(jobs[`${tag}3`], "succeeded");
      if (action === "retry")
        await control.pool.query("UPDATE rollouts SET state = 'halted' WHERE id = $1", [r.id]);
      const tx = new pg.Client({ connectionString: control.db.url });
      await tx.connect();
      try {
        // The route: move the rollout, move its wave-1 tenants, then describe it (a sync).
        await tx.query("BEGIN");
        const moved =
          action === "retry"
            ? await transitionRollout(tx, r.id, ["halted"], "running", { haltedReason: null })
            : await transitionRollout(tx, r.id, ["running"], "cancelled");
        assert.ok(moved !== null);
        if (action === "retry") await resetFailedTenants(tx, r.id);
        else await cancelPendingTenants(tx, r.id);
        const get = describeRollout(control.pool, r);
        await waitForLockWait(control.pool);
        const inTx = await describeRollout(tx, moved);
        await tx.query("COMMIT");
        const seen = await get;
        assert.equal(inTx.counts.succeeded, 2);
        assert.deepEqual(seen.counts, inTx.counts);
      } finally {
        await tx.end();
      }
    });
  }

  it("GETs queued behind a halting pass, on snapshots from before it, do not deadlock with the retry after it", async () => {
    const { rollout: r, jobs } = await launchedRollout("stale", ["s1", "s2", "s3"], {
      launch: ["s1", "s2"],
    });
    await endJob(jobs.s1, "failed"); // s1 active, its job failed, not synced yet
    const connect = async (): Promise<pg.Client> => {
      const client = new pg.Client({ connectionString: control.db.url });
      await client.connect();
      return client;
    };
    const pass = await connect();
    const retry = await connect();
    const readers = await Promise.all([connect(), connect(), connect()]);
    let gets: Promise<unknown>[] = [];
    try {
      // The coordinator's pass: syncs s1 (failed) holding the counters, and halts the rollout.
      await pass.query("BEGIN");
      await lockRunningRollout(pass, r.id);
      await syncAndCountRolloutTenants(pass, r.id);
      await transitionRollout(pass, r.id, ["running"], "halted", { haltedReason: "s1 failed" });
      // GETs arriving meanwhile: their snapshots still show s1 active.
      gets = readers.map((reader) => syncAndCountRolloutTenants(reader, r.id));
      for (let i = 0; i < 200; i++) {
        const { rows } = await control.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        if ((rows[0]?.n ?? 0) >= readers.length) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await pass.query("COMMIT");
      // The retry route, while the GETs still take their turns: s1 failed → pending, then a sync.
      await retry.query("BEGIN");
      const moved = await transitionRollout(retry, r.id, ["halted"], "running", {
        haltedReason: null,
      });
      assert.ok(moved !== null);
      await resetFailedTenants(retry, r.id);
      await describeRollout(retry, moved);
      await retry.query("COMMIT");
      await Promise.all(gets);
    } finally {
      // Ending the transactions' sessions releases their locks, so the GETs finish, either way.
      await pass.end();
      await retry.end();
      await Promise.allSettled(gets);
      for (const reader of readers) await reader.end();
    }
    const s1 = await control.pool.query<{ state: string }>(
      "SELECT state FROM rollout_tenants WHERE rollout_id = $1 AND tenant_id = 's1'",
      [r.id],
    );
    assert.equal(s1.rows[0]?.state, "pending");
  });

  it("a retry re-queues a tenant whose job failed after the halt, before anyone synced it", async () => {
    const { rollout: r, jobs } = await launchedRollout("late", ["l1", "l2"]);
    await control.pool.query("UPDATE rollouts SET state = 'halted' WHERE id = $1", [r.id]);
    await endJob(jobs.l1, "failed"); // still marked active: a halted rollout is not advanced
    assert.equal(await resetFailedTenants(control.pool, r.id), 1);
    const { rows } = await control.pool.query<{ tenant_id: string; state: string }>(
      "SELECT tenant_id, state FROM rollout_tenants WHERE rollout_id = $1 ORDER BY tenant_id",
      [r.id],
    );
    assert.deepEqual(rows, [
      { tenant_id: "l1", state: "pending" },
      { tenant_id: "l2", state: "active" },
    ]);
  });

  it("a retry moves the rollout back to the earliest wave with a re-queued tenant", async () => {
    const { rollout: r, jobs } = await launchedRollout("rewind", ["v1", "v2", "v3"], {
      waves: [{ count: 1 }, { percent: 100 }],
      launch: ["v1"],
    });
    await endJob(jobs.v1, "failed"); // tolerated in wave 0, then the rollout moved on
    await syncAndCountRolloutTenants(control.pool, r.id);
    await control.pool.query(
      "UPDATE rollouts SET current_wave = 1, state = 'failed' WHERE id = $1",
      [r.id],
    );
    assert.equal(await resetFailedTenants(control.pool, r.id), 1);
    const { rows } = await control.pool.query<{ current_wave: number }>(
      "SELECT current_wave FROM rollouts WHERE id = $1",
      [r.id],
    );
    assert.equal(rows[0]?.current_wave, 0);
  });

  it("settles as skipped a tenant deleted (with its job) while the rollout ran, so its wave can end", async () => {
    const { rollout: r, jobs } = await launchedRollout("gone", ["g1", "g2"]);
    await endJob(jobs.g1, "succeeded");
    await control.pool.query("DELETE FROM tenants WHERE id = 'g1'"); // its job goes with it
    const counts = await syncAndCountRolloutTenants(control.pool, r.id);
    assert.deepEqual(
      {
        active: counts.get(0)?.active,
        failed: counts.get(0)?.failed,
        skipped: counts.get(0)?.skipped,
      },
      { active: 1, failed: 0, skipped: 1 },
    );
    const { rows } = await control.pool.query<{ state: string; code: string }>(
      "SELECT state, error->>'code' AS code FROM rollout_tenants WHERE rollout_id = $1 AND tenant_id = 'g1'",
      [r.id],
    );
    assert.deepEqual(rows[0], { state: "skipped", code: "TENANT_DELETED" });
  });

  it("a tenant deleted before its job was created neither halts the rollout nor fails it", async () => {
    const { rollout: r } = await launchedRollout("deleted", ["dl1", "dl2"], { launch: [] });
    await control.pool.query("DELETE FROM tenants WHERE id = 'dl1'");
    await advanceRollouts(deps, [r.id]); // dl1 settled without a job, dl2 launched
    await finishJobOf("dl2");
    await advanceRollouts(deps, [r.id]);
    const view = await describeRollout(control.pool, await requireRollout(control.pool, r.id));
    assert.deepEqual(
      { state: view.state, failures: view.failures, deleted: view.deletedTenants },
      { state: "succeeded", failures: [], deleted: [{ tenantId: "dl1", wave: 0 }] },
    );
  });
  it("a tenant deleted while the pass launches it is skipped with TENANT_DELETED in that pass", async () => {
    const { rollout: r } = await launchedRollout("vanish", ["vn1"], { launch: [] });
    const other = new pg.Client({ connectionString: control.db.url });
    await other.connect();
    try {
      // DELETE /v1/tenants/vn1, not committed yet: the pass reads vn1 as still there, and its
      // job's insert waits for the deletion to commit.
      await other.query("BEGIN");
      await deleteTenant(other, "vn1");
      const advancing = advanceRollouts(deps, [r.id]);
      await waitForLockWait(control.pool);
      await other.query("COMMIT");
      await advancing;
    } finally {
      await other.end();
    }
    const view = await describeRollout(control.pool, await requireRollout(control.pool, r.id));
    assert.deepEqual(
      { state: view.state, failures: view.failures, deleted: view.deletedTenants },
      { state: "succeeded", failures: [], deleted: [{ tenantId: "vn1", wave: 0 }] },
    );
  });
  it("launches the next free tenant when the first pending one is busy with a job outside the rollout", async () => {
    for (const id of ["b1", "b2", "b3"]) {
      await insertTenant(control.pool, {
        id,
        name: id,
        tags: ["busy"],
        databaseUrlSealed: "sealed-url",
        databaseUrlMasked: "postgres://db/x",
        schema: id,
      });
    }
    const { job: manual } = await insertJob(
      control.pool,
      { tenantId: "b1", operation: "upgrade", target: "head", transactionMode: "per-revision" },
      {},
    );
    const r = await insertRollout(control.pool, {
      target: "head",
      selector: { tags: ["busy"] },
      waves: [{ percent: 100 }],
      maxParallel: 1,
      failureThreshold: { count: 0 },
      callbackUrl: null,
      callbackUrlSealed: null,
    });
    const states = async (): Promise<Record<string, string>> => {
      const { rows } = await control.pool.query<{ tenant_id: string; state: string }>(
        "SELECT tenant_id, state FROM rollout_tenants WHERE rollout_id = $1 ORDER BY tenant_id",
        [r.id],
      );
      return Object.fromEntries(rows.map((row) => [row.tenant_id, row.state]));
    };
    await advanceRollouts(deps, [r.id]);
    assert.deepEqual(await states(), { b1: "pending", b2: "active", b3: "pending" });
    // b1's own job ends: it comes next, before b3, as its place in the rollout says.
    await endJob(manual.id, "succeeded");
    await finishJobOf("b2");
    await advanceRollouts(deps, [r.id]);
    assert.deepEqual(await states(), { b1: "active", b2: "succeeded", b3: "pending" });
  });
  it("a rollout whose pass fails does not hold back the rollouts after it", async () => {
    const { rollout: broken } = await launchedRollout("broken", ["x1"], { launch: [] });
    const { rollout: healthy } = await launchedRollout("healthy", ["y1"], { launch: [] });
    // Any failure of the control database inside one rollout's pass (here a trigger refusing
    // its jobs) rolls that pass back; the next rollout must still be advanced.
    await control.pool
      .query(`CREATE FUNCTION refuse_broken_jobs() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'refused'; END $$`);
    await control.pool.query(
      `CREATE TRIGGER refuse_broken_jobs BEFORE INSERT ON jobs FOR EACH ROW
        WHEN (NEW.rollout_id = '${broken.id}') EXECUTE FUNCTION refuse_broken_jobs()`,
    );
    try {
      await advanceRollouts(deps, [broken.id, healthy.id]);
      const { rows } = await control.pool.query<{ tenant_id: string; state: string }>(
        "SELECT tenant_id, state FROM rollout_tenants WHERE tenant_id IN ('x1', 'y1') ORDER BY 1",
      );
      assert.deepEqual(rows, [
        { tenant_id: "x1", state: "pending" },
        { tenant_id: "y1", state: "active" },
      ]);
    } finally {
      await control.pool.query("DROP TRIGGER refuse_broken_jobs ON jobs");
      await control.pool.query("DROP FUNCTION refuse_broken_jobs()");
    }
  });
});
