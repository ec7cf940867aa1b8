/**
 * Upgrading a control database whose rollouts predate control revision c0a1b2c3d409: the waves
 * they already announced complete are recorded, so a retry of one does not announce them again.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { upgradeControlTo } from "../support/control-database.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

describe("rollouts created before announced waves were recorded", () => {
  let controlDb: TestDatabase;
  const upgradeTo = (target: string) => upgradeControlTo(controlDb.url, target);
  before(async () => {
    controlDb = await createTestDatabase();
    await upgradeTo("c0a1b2c3d408");
  });
  after(async () => {
    await controlDb.drop();
  });

  it("count every wave they moved past, and the last one of those that finished every wave", async () => {
    await controlDb.query(
      `INSERT INTO rollouts (id, target, selector, waves, wave_sizes, max_parallel, failure_threshold,
                             state, current_wave, total_tenants)
       SELECT gen_random_uuid(), s.name, '{"all": true}', '[]', '{1,2,3}', 1, '{"count": 0}',
              s.state, s.wave, 3
         FROM (VALUES ('new', 'running', 0), ('third', 'running', 2), ('halted', 'halted', 1),
                      ('succeeded', 'succeeded', 2), ('failed', 'failed', 2),
                      ('cancelled', 'cancelled', 1)) s(name, state, wave)`,
    );
    await upgradeTo("c0a1b2c3d409");
    const { rows } = await controlDb.query(
      "SELECT target, announced_waves FROM rollouts ORDER BY target",
    );
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.target, r.announced_waves])), {
      cancelled: [0],
      failed: [0, 1, 2],
      halted: [0],
      new: [],
      succeeded: [0, 1, 2],
      third: [0, 1],
    });
  });
});
