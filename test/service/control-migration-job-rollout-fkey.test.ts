/**
 * Control revision c0a1b2c3d413 makes a job's rollout a foreign key (ON DELETE SET NULL), added NOT
 * VALID and validated by c0a1b2c3d414. Jobs that retention kept after deleting their rollout,
 * before it, named a rollout that answered 404: the upgrade clears them, and deleting a rollout
 * afterwards clears its jobs' rollout_id. Also: the upgrade does not deadlock with a coordinator
 * pass that has updated its rollout and is about to insert a job.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { upgradeControlTo } from "../support/control-database.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

/** Polls `condition` every 20 ms until it holds (the test's own timeout bounds it). */
async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await sleep(20);
}

describe("control revision c0a1b2c3d413 (a job's rollout is a foreign key)", () => {
  let controlDb: TestDatabase;
  const upgradeTo = (target: string) => upgradeControlTo(controlDb.url, target);
  before(async () => {
    controlDb = await createTestDatabase();
    await upgradeTo("c0a1b2c3d411");
  });
  after(async () => {
    await controlDb.drop();
  });

  it("clears the jobs naming a deleted rollout, and then those of each rollout deleted", async () => {
    const [live, gone] = [randomUUID(), randomUUID()];
    await controlDb.query(
      `INSERT INTO tenants (id, name, database_url_sealed, database_url_masked)
       VALUES ('acme', 'Acme', 'sealed', 'postgres://db/acme')`,
    );
    await controlDb.query(
      `INSERT INTO rollouts (id, target, selector, waves, wave_sizes, max_parallel, failure_threshold,
                             state, total_tenants, finished_at)
       VALUES ($1, 'head', '{"all": true}', '[]', '{1}', 1, '{"count": 0}', 'succeeded', 1, now())`,
      [live],
    );
    const job = async (rolloutId: string | null): Promise<string> => {
      const id = randomUUID();
      await controlDb.query(
        `INSERT INTO jobs (id, tenant_id, operation, target, transaction_mode, state, rollout_id,
                           finished_at)
         VALUES ($1, 'acme', 'upgrade', 'head', 'per-revision', 'succeeded', $2, now())`,
        [id, rolloutId],
      );
      return id;
    };
    const jobs = { manual: await job(null), ofLive: await job(live), ofGone: await job(gone) };
    // A coordinator pass mid-way: it has updated its rollout and inserts a job once the upgrade
    // waits for a lock. Locking jobs before rollouts, the upgrade deadlocked with it.
    const pass = new pg.Client({ connectionString: controlDb.url });
    await pass.connect();
    try {
      const { rows: me } = await pass.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      await pass.query("BEGIN");
      await pass.query("UPDATE rollouts SET current_wave = current_wave WHERE id = $1", [live]);
      const upgrading = upgradeTo("c0a1b2c3d414");
      await waitUntil(async () => {
        const { rows } = await controlDb.query(
          `SELECT 1 FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1`,
          [me[0]?.pid],
        );
        return rows.length > 0;
      });
      const passJob = randomUUID();
      await pass.query(
        `INSERT INTO jobs (id, tenant_id, operation, target, transaction_mode, state, rollout_id)
         VALUES ($1, 'acme', 'upgrade', 'head', 'per-revision', 'queued', $2)`,
        [passJob, live],
      );
      await pass.query("COMMIT");
      await upgrading;
      await controlDb.query("DELETE FROM jobs WHERE id = $1", [passJob]);
    } finally {
      await pass.end();
    }
    const rolloutIds = async (): Promise<Record<string, string | null | undefined>> => {
      const { rows } = await controlDb.query("SELECT id, rollout_id FROM jobs");
      const byId = new Map(
        rows.map((r: { id: string; rollout_id: string | null }) => [r.id, r.rollout_id]),
      );
      return Object.fromEntries(Object.entries(jobs).map(([name, id]) => [name, byId.get(id)]));
    };
    assert.deepEqual(await rolloutIds(), { manual: null, ofLive: live, ofGone: null });
    const { rows: key } = await controlDb.query(
      "SELECT convalidated FROM pg_constraint WHERE conname = 'jobs_rollout_fkey'",
    );
    assert.deepEqual(key, [{ convalidated: true }]);
    await controlDb.query("DELETE FROM rollouts WHERE id = $1", [live]);
    assert.deepEqual(await rolloutIds(), { manual: null, ofLive: null, ofGone: null });
  });
});
