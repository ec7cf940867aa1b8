/** maxParallel holds across worker processes: two `fleetway worker` processes, one limit. */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { revisionDir, type RevisionDir } from "../support/revision-fixtures.js";
import { serviceEnv, startTestService, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { maxOverlap } from "../support/intervals.js";

const binary = new URL("../../bin/fleetway.js", import.meta.url).pathname;

describe("rollout parallelism across processes", () => {
  let api: TestService;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  const workers: ChildProcess[] = [];

  before(async () => {
    revisions = await revisionDir([
      {
        id: "s1",
        up: "CREATE TABLE t_s1 (id int);\nSELECT pg_sleep(0.25);",
        downgrade: "DROP TABLE t_s1;",
      },
    ]);
    tenantDb = await createTestDatabase();
    api = await startTestService({
      migrationsDir: revisions.dir,
      mode: "api",
      env: { FLEETWAY_ROLLOUT_TICK_MS: "50" },
    });
    const env = serviceEnv(api.controlDb.url, api.config.queuePrefix, {
      migrationsDir: revisions.dir,
      env: { FLEETWAY_WORKER_CONCURRENCY: "4", FLEETWAY_ROLLOUT_TICK_MS: "50" },
    });
    for (let i = 0; i < 2; i++) {
      workers.push(
        spawn(process.execPath, [binary, "worker"], {
          env: { ...process.env, ...env, LOG_LEVEL: "warn" },
          stdio: ["ignore", "ignore", "inherit"],
        }),
      );
    }
  });
  after(async () => {
    for (const worker of workers) worker.kill("SIGTERM");
    await Promise.all(
      workers.map(
        (w) =>
          new Promise((resolve) => {
            if (w.exitCode === null) w.once("exit", resolve);
            else resolve(null);
          }),
      ),
    );
    await api.close();
    await tenantDb.drop();
    await revisions.remove();
  });

  it("never runs more than maxParallel jobs at once, whichever workers run them", async () => {
    for (let i = 0; i < 16; i++) {
      const id = `m${String(i).padStart(2, "0")}`;
      const response = await api
        .http()
        .post("/v1/tenants")
        .set("authorization", api.auth("write"))
        .send({ id, name: id, databaseUrl: tenantDb.url, schema: id, tags: ["par"] });
      assert.equal(response.status, 201);
    }
    const created = await api
      .http()
      .post("/v1/rollouts")
      .set("authorization", api.auth("write"))
      .send({ target: "head", tenants: { tags: ["par"] }, maxParallel: 3 });
    assert.equal(created.status, 202, created.text);
    const deadline = Date.now() + 60_000;
    let rollout;
    do {
      await new Promise((r) => setTimeout(r, 100));
      rollout = (
        await api
          .http()
          .get(`/v1/rollouts/${created.body.id as string}`)
          .set("authorization", api.auth("read"))
      ).body;
    } while (rollout.state === "running" && Date.now() < deadline);
    assert.equal(rollout.state, "succeeded", JSON.stringify(rollout));
    const { rows } = await api.controlDb.query(
      `SELECT worker_id, (extract(epoch FROM started_at) * 1000)::float8 AS start, (extract(epoch FROM finished_at) * 1000)::float8 AS end
         FROM jobs WHERE rollout_id = $1`,
      [created.body.id],
    );
    assert.equal(rows.length, 16);
    const overlap = maxOverlap(
      rows.map((r: { start: number; end: number }) => ({
        start: r.start,
        end: r.end,
      })),
    );
    assert.ok(overlap <= 3, `at most 3 at once, saw ${overlap}`);
    assert.ok(overlap >= 2, `jobs did run in parallel (${overlap})`);
    assert.equal(
      new Set(rows.map((r: { worker_id: string }) => r.worker_id)).size,
      2,
      "both worker processes took jobs",
    );
  });
});
