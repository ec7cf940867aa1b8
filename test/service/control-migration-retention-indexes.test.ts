/**
 * Control revision c0a1b2c3d408 (retention's indexes) applies while another session keeps an
 * old snapshot open, as a pg_dump of the control database does. Built CONCURRENTLY, it waited
 * for that transaction, hit its lock_timeout, and failed start-up for as long as the dump ran.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { upgradeControlTo } from "../support/control-database.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

describe("control revision c0a1b2c3d408 (retention's indexes)", () => {
  let controlDb: TestDatabase;
  const upgradeTo = (target: string) =>
    upgradeControlTo(controlDb.url, target, {
      // Waiting is failing here: the test must not depend on how long it would wait.
      lockTimeoutMs: 1000,
      lockTimeoutRetries: 0,
    });
  before(async () => {
    controlDb = await createTestDatabase();
    await upgradeTo("c0a1b2c3d407");
  });
  after(async () => {
    await controlDb.drop();
  });

  it("applies while a backup's snapshot is open", async () => {
    const dump = new pg.Client({ connectionString: controlDb.url });
    await dump.connect();
    try {
      // What pg_dump holds for its whole run: a repeatable-read snapshot and ACCESS SHARE locks.
      await dump.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      await dump.query("SELECT count(*) FROM tenants");
      await dump.query("SELECT count(*) FROM jobs");
      const result = await upgradeTo("c0a1b2c3d408");
      assert.deepEqual(result.toHeads, ["c0a1b2c3d408"]);
    } finally {
      await dump.query("ROLLBACK").catch(() => undefined);
      await dump.end();
    }
    const { rows } = await controlDb.query(
      `SELECT indexname FROM pg_indexes WHERE indexname IN
         ('jobs_finished_at_idx', 'rollouts_finished_at_idx', 'jobs_active_rollout_idx')
        ORDER BY indexname`,
    );
    assert.deepEqual(
      rows.map((r: { indexname: string }) => r.indexname),
      ["jobs_active_rollout_idx", "jobs_finished_at_idx", "rollouts_finished_at_idx"],
    );
  });
});
