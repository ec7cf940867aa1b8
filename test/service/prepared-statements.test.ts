/**
 * The control pool prepares its statements once per connection, never one that selects `*`, and
 * a column added to a table behind a running process (a newer version's control migration during
 * a rolling deploy) does not break the statements it has prepared.
 */
import assert from "node:assert/strict";
import { after, afterEach, before, describe, it } from "node:test";
import type pg from "pg";
import { claimJobForRun } from "../../src/control/claim-job.js";
import { createControlPool } from "../../src/control/control-db.js";
import { finishJob, getJob } from "../../src/control/job-store.js";
import { statementName } from "../../src/control/prepared-statements.js";
import { requireTenant } from "../../src/control/tenant-store.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";

/** The statements prepared on the connection that runs this query. */
async function preparedOn(client: pg.PoolClient): Promise<string[]> {
  const { rows } = await client.query<{ statement: string }>(
    "SELECT statement FROM pg_prepared_statements",
  );
  return rows.map((r) => r.statement);
}

describe("control database prepared statements", () => {
  let control: ControlTestDatabase;

  before(async () => {
    control = await createControlTestDatabase();
  });
  after(async () => {
    await control.drop();
  });
  // One active job per tenant: each test's job is ended so the next can queue one.
  afterEach(async () => {
    await control.pool.query(
      "UPDATE jobs SET state = 'cancelled', finished_at = now() WHERE state IN ('queued', 'running')",
    );
  });

  it("names parameterised statements, but not `*` selections (count(*) is fine)", () => {
    assert.match(statementName("SELECT id FROM jobs WHERE id = $1") ?? "", /^fleetway_[0-9a-f]+$/);
    assert.equal(
      statementName("SELECT id FROM jobs WHERE id = $1"),
      statementName("SELECT id FROM jobs WHERE id = $1"),
      "one name per text",
    );
    assert.equal(statementName("SELECT * FROM jobs WHERE id = $1"), null);
    assert.equal(statementName("UPDATE jobs SET state = $2 WHERE id = $1 RETURNING *"), null);
    assert.equal(statementName("SELECT j.* FROM jobs j WHERE j.id = $1"), null);
    assert.notEqual(statementName("SELECT count(*)::int AS n FROM jobs WHERE state = $1"), null);
  });

  it("runs the job and tenant statements prepared, on the connection that used them", async () => {
    const pool = createControlPool(control.db.url, 1);
    try {
      const id = await control.queuedJob();
      assert.equal((await getJob(pool, id))?.id, id);
      assert.equal((await requireTenant(pool, "acme")).id, "acme");
      const client = await pool.connect();
      try {
        const statements = await preparedOn(client);
        assert.ok(
          statements.some((s) => /FROM jobs WHERE id = \$1/.test(s)),
          `getJob prepared: ${statements.join(" | ")}`,
        );
        assert.ok(statements.some((s) => /FROM tenants WHERE id = \$1/.test(s)));
        assert.ok(!statements.some((s) => s.includes("*") && !s.includes("count(*)")));
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  });

  it("prepares nothing when turned off", async () => {
    const pool = createControlPool(control.db.url, 1, { preparedStatements: false });
    try {
      const id = await control.queuedJob();
      await getJob(pool, id);
      const client = await pool.connect();
      try {
        assert.deepEqual(await preparedOn(client), []);
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  });

  it("keeps working after a column is added to jobs and tenants behind its back", async () => {
    const pool = createControlPool(control.db.url, 1);
    try {
      const id = await control.queuedJob();
      // Prepare the hot statements on the pool's one connection...
      await getJob(pool, id);
      await requireTenant(pool, "acme");
      // ...then change the tables as a newer version's control migration would.
      await control.pool.query("ALTER TABLE jobs ADD COLUMN added_by_a_newer_version TEXT");
      await control.pool.query("ALTER TABLE tenants ADD COLUMN added_by_a_newer_version TEXT");
      try {
        assert.equal((await getJob(pool, id))?.state, "queued");
        assert.equal((await requireTenant(pool, "acme")).id, "acme");
        const claimed = await claimJobForRun(pool, id, "worker-1");
        assert.equal(claimed?.job.state, "running");
        assert.equal(claimed.tenant.id, "acme");
        const finished = await finishJob(pool, id, { state: "succeeded" });
        assert.equal(finished?.state, "succeeded");
      } finally {
        await control.pool.query("ALTER TABLE jobs DROP COLUMN added_by_a_newer_version");
        await control.pool.query("ALTER TABLE tenants DROP COLUMN added_by_a_newer_version");
      }
    } finally {
      await pool.end();
    }
  });
});
