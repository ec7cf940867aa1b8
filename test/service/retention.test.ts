/**
 * Retention of the control database (FLEETWAY_RETENTION_DAYS): the reconciler's pass deletes
 * finished jobs (with their events, deliveries and attempts) and finished rollouts older than the
 * retention, in bounded batches, and never what is still in use. Time is moved by backdating rows,
 * as the Idempotency-Key expiry tests do.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, beforeEach, describe, it } from "node:test";
import pg from "pg";
import { pino } from "pino";
import { pruneFinishedJobs, pruneFinishedRollouts } from "../../src/control/retention-store.js";
import { pruneExpired } from "../../src/jobs/prune-expired.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";
import { startTestService } from "../support/service-harness.js";
import type { TestDatabase } from "../support/test-database.js";

const silent = pino({ level: "silent" });

/** A job of tenant acme that succeeded `daysAgo` days ago, with nothing else (no events). */
async function insertSucceededJob(db: TestDatabase, id: string, daysAgo: number): Promise<void> {
  await db.query(
    `INSERT INTO jobs (id, tenant_id, operation, target, transaction_mode, state, finished_at)
     VALUES ($1, 'acme', 'upgrade', 'head', 'per-revision', 'succeeded',
             now() - $2::int * interval '1 day')`,
    [id, daysAgo],
  );
}

/**
 * Waits until `sessions` sessions of the database wait for a lock, or until `unless()` holds.
 */
async function waitForLockWait(
  db: TestDatabase,
  sessions = 1,
  unless: () => boolean = () => false,
): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (unless()) return;
    const { rows } = await db.query(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    );
    if (((rows[0] as { waiting: number } | undefined)?.waiting ?? 0) >= sessions) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("no session came to wait for the lock");
}

describe("retention of finished jobs and rollouts", () => {
  let control: ControlTestDatabase;

  before(async () => {
    control = await createControlTestDatabase();
  });
  after(async () => {
    await control.drop();
  });
  beforeEach(async () => {
    await control.pool.query("DELETE FROM rollouts");
    await control.pool.query("DELETE FROM jobs");
    await control.pool.query("DELETE FROM webhook_deliveries");
    await control.pool.query("DELETE FROM tenants WHERE id <> 'acme'");
  });

  const pass = (retentionDays: number) => pruneExpired(control.pool, retentionDays, silent);

  const count = async (sql: string, params: unknown[] = []): Promise<number> =>
    (await control.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params))
      .rows[0]?.n ?? -1;

  const jobIds = async (): Promise<string[]> =>
    (await control.pool.query<{ id: string }>("SELECT id FROM jobs ORDER BY seq")).rows.map(
      (r) => r.id,
    );

  async function tenant(id: string): Promise<string> {
    await control.pool.query(
      `INSERT INTO tenants (id, name, database_url_sealed, database_url_masked)
       VALUES ($1, $1, 'sealed', 'postgres://db/x') ON CONFLICT DO NOTHING`,
      [id],
    );
    return id;
  }

  /**
   * A job of `tenantId` that ended (or not: `state` queued/running) `daysAgo` days ago, with two
   * events and a delivered webhook (two attempts), like a real one.
   */
  async function job(
    tenantId: string,
    state: string,
    daysAgo: number,
    rolloutId: string | null = null,
    deliveryState = "succeeded",
  ): Promise<string> {
    const id = randomUUID();
    const finished = ["succeeded", "failed", "cancelled"].includes(state);
    await control.pool.query(
      `INSERT INTO jobs (id, tenant_id, operation, target, transaction_mode, state, rollout_id,
                         created_at, started_at, finished_at, event_seq)
       VALUES ($1, $2, 'upgrade', 'head', 'per-revision', $3, $4,
               now() - $5::float8 * interval '1 day', now() - $5::float8 * interval '1 day',
               CASE WHEN $6 THEN now() - $5::float8 * interval '1 day' END, 2)`,
      [id, tenantId, state, rolloutId, daysAgo, finished],
    );
    await control.pool.query(
      `INSERT INTO job_events (job_id, seq, type) VALUES ($1, 1, 'job.queued'), ($1, 2, 'job.started')`,
      [id],
    );
    const delivery = randomUUID();
    await control.pool.query(
      `INSERT INTO webhook_deliveries (id, job_id, url_sealed, url_masked, message_id, event_type,
                                       payload, state, attempts)
       VALUES ($1::uuid, $2, 'sealed', 'https://hooks.example/x', $1::text, 'job.queued', '{}', $3, 2)`,
      [delivery, id, deliveryState],
    );
    await control.pool.query(
      `INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms)
       VALUES ($1, 1, now(), 5), ($1, 2, now(), 5)`,
      [delivery],
    );
    return id;
  }

  /** A rollout over the given tenants (all done), in `state`, finished `daysAgo` days ago. */
  async function rollout(state: string, daysAgo: number, tenants: string[]): Promise<string> {
    const id = randomUUID();
    const finished = ["succeeded", "failed", "cancelled"].includes(state);
    await control.pool.query(
      `INSERT INTO rollouts (id, target, selector, wave_sizes, waves, max_parallel,
                             failure_threshold, state, total_tenants, created_at, finished_at)
       VALUES ($1, 'head', '{"all": true}', ARRAY[$3::int], '[{"percent": 100}]', 5,
               '{"count": 0}', $2, $3, now() - $4::float8 * interval '1 day',
               CASE WHEN $5 THEN now() - $4::float8 * interval '1 day' END)`,
      [id, state, tenants.length, daysAgo, finished],
    );
    await control.pool.query(
      `INSERT INTO rollout_tenants (rollout_id, tenant_id, wave, position, state)
       SELECT $1, t, 0, p, 'succeeded' FROM unnest($2::text[]) WITH ORDINALITY AS u (t, p)`,
      [id, tenants],
    );
    await control.pool.query(
      `INSERT INTO webhook_deliveries (id, rollout_id, url_sealed, url_masked, message_id,
                                       event_type, payload, state)
       VALUES ($1::uuid, $2, 'sealed', 'https://hooks.example/x', $1::text, 'rollout.started', '{}',
               'succeeded')`,
      [randomUUID(), id],
    );
    return id;
  }

  it("deletes old finished jobs with their events, deliveries and attempts; keeps recent and active ones", async () => {
    const acme = "acme";
    const beta = await tenant("beta");
    const old = [
      await job(acme, "succeeded", 40),
      await job(acme, "failed", 35),
      await job(acme, "cancelled", 31),
    ];
    const recent = await job(acme, "succeeded", 29);
    const active = await job(acme, "running", 60);
    // beta's only job is old, but it is what beta's status, the fleet's failing tenants and the
    // jobState filter show: a tenant's latest job is kept.
    const betaLast = await job(beta, "failed", 90);
    await pass(30);
    assert.deepEqual(await jobIds(), [recent, active, betaLast]);
    for (const id of old) {
      assert.equal(await count("job_events WHERE job_id = $1", [id]), 0);
      assert.equal(await count("webhook_deliveries WHERE job_id = $1", [id]), 0);
    }
    assert.equal(await count("job_events"), 6);
    assert.equal(await count("webhook_deliveries"), 3);
    assert.equal(await count("webhook_attempts"), 6);
    assert.equal(await count("tenants"), 2, "tenants are never deleted");
  });

  it("keeps a job whose webhook delivery is still being retried", async () => {
    const pending = await job("acme", "succeeded", 40, null, "pending");
    await job("acme", "succeeded", 1);
    await pass(30);
    assert.ok((await jobIds()).includes(pending));
  });

  it("keeps the jobs of rollouts that are not finished, and of recently finished ones", async () => {
    const tenants = [await tenant("t1"), await tenant("t2")];
    const kept: string[] = [];
    for (const [state, daysAgo] of [
      ["running", 50],
      ["paused", 50],
      ["halted", 50],
      ["succeeded", 10],
    ] as const) {
      const id = await rollout(state, daysAgo, tenants);
      for (const t of tenants) kept.push(await job(t, "succeeded", 45, id));
    }
    // Later jobs, so that none of the above is its tenant's latest.
    for (const t of tenants) kept.push(await job(t, "succeeded", 1));
    await pass(30);
    assert.deepEqual((await jobIds()).sort(), kept.sort());
    assert.equal(await count("rollouts"), 4);
    assert.equal(await count("rollout_tenants"), 8);
    assert.equal(await count("webhook_deliveries WHERE rollout_id IS NOT NULL"), 4);
  });

  it("deletes an old finished rollout with its tenants, counters, deliveries and then its jobs", async () => {
    const tenants = [await tenant("t1"), await tenant("t2")];
    const old = await rollout("succeeded", 40, tenants);
    const oldJobs = [];
    for (const t of tenants) oldJobs.push(await job(t, "succeeded", 41, old));
    const latest = [];
    for (const t of tenants) latest.push(await job(t, "succeeded", 2));
    // One pass: the rollout first, then its jobs, now without a rollout.
    await pass(30);
    assert.equal(await count("rollouts"), 0);
    assert.equal(await count("rollout_tenants"), 0);
    assert.equal(await count("rollout_waves"), 0);
    assert.equal(await count("webhook_deliveries WHERE rollout_id IS NOT NULL"), 0);
    assert.deepEqual((await jobIds()).sort(), latest.sort());
  });

  it("a job kept after its rollout was deleted no longer names it", async () => {
    const tenants = [await tenant("t1"), await tenant("t2")];
    const old = await rollout("failed", 40, tenants);
    // t1's job is its latest, kept whatever its age; t2's job is kept because it is recent.
    const kept = [await job("t1", "succeeded", 41, old), await job("t2", "failed", 1, old)];
    await pass(30);
    assert.equal(await count("rollouts"), 0);
    const { rows } = await control.pool.query<{ id: string; rollout_id: string | null }>(
      "SELECT id, rollout_id FROM jobs ORDER BY seq",
    );
    assert.deepEqual(rows, [
      { id: kept[0], rollout_id: null },
      { id: kept[1], rollout_id: null },
    ]);
  });

  it("keeps a finished rollout while one of its jobs is still active", async () => {
    const t1 = await tenant("t1");
    const cancelled = await rollout("cancelled", 40, [t1]);
    // The rollout was cancelled; its running job has not noticed yet.
    const running = await job(t1, "running", 40, cancelled);
    await pass(30);
    assert.equal(await count("rollouts"), 1);
    assert.deepEqual(await jobIds(), [running]);
  });

  it("keeps everything when the retention is 0", async () => {
    await job("acme", "succeeded", 4000);
    await job("acme", "failed", 4000);
    await rollout("succeeded", 4000, ["acme"]);
    await pass(0);
    assert.equal(await count("jobs"), 2);
    assert.equal(await count("rollouts"), 1);
  });

  it("deletes in bounded batches, and passes running side by side share the work", async () => {
    for (let i = 0; i < 7; i++) await job("acme", "succeeded", 40 + i);
    await job("acme", "succeeded", 1);
    assert.equal(await pruneFinishedJobs(control.pool, 30, 3), 3);
    assert.equal(await count("jobs"), 5);
    // Two processes at once: each deletes its own batch, no row twice, none left over.
    const [a, b] = await Promise.all([
      pruneFinishedJobs(control.pool, 30, 3),
      pruneFinishedJobs(control.pool, 30, 3),
    ]);
    assert.equal(a + b, 4);
    assert.equal(await count("jobs"), 1);
    assert.equal(await pruneFinishedJobs(control.pool, 30, 3), 0);
  });

  it("a round deletes, batch after batch, the expired jobs that lie after many kept ones", async () => {
    // Idle tenants whose only job is old and kept (their latest), older than every job that is
    // deleted: each batch of the round starts after the last one the previous batch examined.
    const kept: string[] = [];
    for (let i = 0; i < 12; i++)
      kept.push(await job(await tenant(`idle${i}`), "succeeded", 300 + i));
    for (let i = 0; i < 10; i++) await job("acme", "succeeded", 100 + i);
    kept.push(await job("acme", "succeeded", 1));
    assert.deepEqual(await pruneExpired(control.pool, 30, silent, 3), { more: false });
    assert.deepEqual((await jobIds()).sort(), kept.sort());
  });

  it("a round's batches pass over no deletable job: kept and deletable ones interleaved, tied", async () => {
    // Hour after hour, one idle tenant's kept latest job and three of acme's expired jobs, all
    // four ending at the same instant: a batch of 2 stops among jobs that ended with its last.
    const kept: string[] = [];
    for (let hour = 0; hour < 4; hour++) {
      const latest = await job(await tenant(`idle${hour}`), "succeeded", 200);
      kept.push(latest);
      const tied = [latest];
      for (let i = 0; i < 3; i++) tied.push(await job("acme", "failed", 200));
      await control.pool.query(
        `UPDATE jobs SET finished_at = date_trunc('hour', now()) - interval '200 days'
                                       + $2::int * interval '1 hour'
          WHERE id = ANY ($1::uuid[])`,
        [tied, hour],
      );
    }
    kept.push(await job("acme", "succeeded", 1));
    assert.deepEqual(await pruneExpired(control.pool, 30, silent, 2), { more: false });
    assert.deepEqual((await jobIds()).sort(), kept.sort());
  });

  it("deletes rollouts in batches bounded by their tenants; a larger one goes alone", async () => {
    const tenants = [];
    for (let i = 0; i < 5; i++) tenants.push(await tenant(`t${i}`));
    const first = await rollout("succeeded", 50, tenants.slice(0, 2));
    const second = await rollout("failed", 49, tenants.slice(0, 2));
    const large = await rollout("cancelled", 48, tenants);
    const left = async () =>
      (await control.pool.query<{ id: string }>("SELECT id FROM rollouts ORDER BY seq")).rows.map(
        (r) => r.id,
      );
    assert.deepEqual(await left(), [first, second, large]);
    // Budget 3 tenants: the first (2), not the second too (4).
    assert.equal(await pruneFinishedRollouts(control.pool, 30, 3), 1);
    assert.deepEqual(await left(), [second, large]);
    assert.equal(await pruneFinishedRollouts(control.pool, 30, 3), 1);
    assert.equal(await pruneFinishedRollouts(control.pool, 30, 3), 1, "5 tenants, alone");
    assert.deepEqual(await left(), []);
    assert.equal(await count("rollout_tenants"), 0);
    assert.equal(await count("rollout_waves"), 0);
    assert.equal(await pruneFinishedRollouts(control.pool, 30, 3), 0);
  });
});

describe("retention in a running service", () => {
  it("a retry of a failed rollout that retention deletes meanwhile answers 404", async () => {
    // Retention is left to this test: the service's own passes would race it.
    const svc = await startTestService({ mode: "api", env: { FLEETWAY_RETENTION_DAYS: "0" } });
    const id = randomUUID();
    const pruning = new pg.Client({ connectionString: svc.controlDb.url });
    await pruning.connect();
    try {
      await svc.controlDb.query(
        `INSERT INTO rollouts (id, target, selector, wave_sizes, waves, max_parallel,
                               failure_threshold, state, total_tenants, finished_at)
         VALUES ($1, 'head', '{"all": true}', '{0}', '[{"percent": 100}]', 5, '{"count": 0}',
                 'failed', 0, now() - interval '40 days')`,
        [id],
      );
      // Another process's retention pass deletes the rollout and has not committed yet: the
      // retry reads it, then waits for that row, which is gone once the pass commits.
      await pruning.query("BEGIN");
      assert.equal(await pruneFinishedRollouts(pruning, 30), 1);
      const retry = svc
        .http()
        .post(`/v1/rollouts/${id}/retry`)
        .set("authorization", svc.auth("write"))
        .then((response) => response);
      await waitForLockWait(svc.controlDb);
      await pruning.query("COMMIT");
      const response = await retry;
      assert.equal(response.status, 404, response.text);
      assert.equal(response.body.code, "ROLLOUT_NOT_FOUND");
    } finally {
      await pruning.end();
      await svc.close();
    }
  });

  /**
   * The job or rollout retention deletes, with two delivered webhooks (in this order); and the
   * retention statement that deletes it.
   */
  const owners = {
    async job(db: TestDatabase) {
      const [old, later] = [randomUUID(), randomUUID()];
      await db.query(
        `INSERT INTO tenants (id, name, database_url_sealed, database_url_masked)
         VALUES ('acme', 'Acme', 'sealed', 'postgres://db/acme')`,
      );
      await insertSucceededJob(db, old, 40);
      await insertSucceededJob(db, later, 1);
      return { id: old, column: "job_id", prune: pruneFinishedJobs };
    },
    async rollout(db: TestDatabase) {
      const id = randomUUID();
      await db.query(
        `INSERT INTO rollouts (id, target, selector, wave_sizes, waves, max_parallel,
                               failure_threshold, state, total_tenants, finished_at)
         VALUES ($1, 'head', '{"all": true}', '{0}', '[{"percent": 100}]', 5, '{"count": 0}',
                 'failed', 0, now() - interval '40 days')`,
        [id],
      );
      return { id, column: "rollout_id", prune: pruneFinishedRollouts };
    },
  } as const;

  for (const owner of ["job", "rollout"] as const) {
    it(`a redelivery asked for while retention deletes its ${owner} is sent, or answers 404`, async () => {
      const svc = await startTestService({ mode: "api", env: { FLEETWAY_RETENTION_DAYS: "0" } });
      const db = svc.controlDb;
      const [held, redelivered] = [randomUUID(), randomUUID()];
      const pruning = new pg.Client({ connectionString: db.url });
      const holder = new pg.Client({ connectionString: db.url });
      await pruning.connect();
      await holder.connect();
      try {
        const { id, column, prune } = await owners[owner](db);
        for (const delivery of [held, redelivered]) {
          await db.query(
            `INSERT INTO webhook_deliveries (id, ${column}, url_sealed, url_masked, message_id,
                                             event_type, payload, state, attempts)
             VALUES ($1::uuid, $2, 'sealed', 'https://hooks.example/x', $1::text, 'x.y', '{}',
                     'succeeded', 1)`,
            [delivery, id],
          );
        }
        // Another session holds the first delivery's row (as recording one of its attempts
        // does): the retention pass, having chosen the ${owner}, waits for it before the second.
        await holder.query("BEGIN");
        await holder.query("SELECT 1 FROM webhook_deliveries WHERE id = $1 FOR UPDATE", [held]);
        const pruned = prune(pruning, 30);
        await waitForLockWait(db);
        // The second's redelivery comes meanwhile: it answers, or waits for retention's lock.
        let answered = false;
        const redelivery = svc
          .http()
          .post(`/v1/deliveries/${redelivered}/redeliver`)
          .set("authorization", svc.auth("write"))
          .then((response) => {
            answered = true;
            return response;
          });
        await waitForLockWait(db, 2, () => answered);
        await holder.query("COMMIT");
        const response = await redelivery;
        await pruned;
        const { rows } = await db.query("SELECT state FROM webhook_deliveries WHERE id = $1", [
          redelivered,
        ]);
        if (response.status === 202) {
          // Accepted: the delivery is pending again, so its ${owner} stays until it is sent.
          // Before, retention went on to delete both deliveries, and the attempt the redelivery
          // queued found nothing to send.
          assert.deepEqual(rows, [{ state: "pending" }]);
        } else {
          assert.equal(response.status, 404, response.text);
          assert.equal(response.body.code, "DELIVERY_NOT_FOUND");
          assert.deepEqual(rows, []);
        }
      } finally {
        await holder.end();
        await pruning.end();
        await svc.close();
      }
    });
  }

  it("deletes an old finished job when a process starts, which then answers 404", async () => {
    // The first service creates the control database; the rows go in while no process runs.
    const first = await startTestService({ mode: "api" });
    const db = first.controlDb;
    const [old, latest] = [randomUUID(), randomUUID()];
    try {
      await db.query(
        `INSERT INTO tenants (id, name, database_url_sealed, database_url_masked)
         VALUES ('acme', 'Acme', 'sealed', 'postgres://db/acme')`,
      );
    } finally {
      await first.service.stop();
    }
    await insertSucceededJob(db, old, 31);
    await insertSucceededJob(db, latest, 1);
    // A process prunes on its first reconciler pass, with the default retention (30 days).
    const svc = await startTestService({
      mode: "api",
      controlDb: db,
      queuePrefix: first.config.queuePrefix,
    });
    try {
      const get = (id: string) =>
        svc.http().get(`/v1/jobs/${id}`).set("authorization", svc.auth("read"));
      const deadline = Date.now() + 10_000;
      while ((await get(old)).status === 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      const gone = await get(old);
      assert.equal(gone.status, 404, gone.text);
      assert.equal(gone.body.code, "JOB_NOT_FOUND");
      assert.equal((await get(latest)).status, 200);
    } finally {
      await svc.close();
      await first.close();
    }
  });
});
