/** The deploy-tooling verbs of the CLI against a running service, with their exit codes. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fleetway, jsonOf } from "../support/cli-harness.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { KEYS, startTestService, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

describe("fleetway remote verbs", () => {
  let svc: TestService;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    revisions = await revisionDir([tableRevision("k1"), tableRevision("k2", ["k1"])]);
    tenantDb = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_ROLLOUT_TICK_MS: "50" },
    });
    env = { FLEETWAY_URL: svc.service.url ?? "", FLEETWAY_API_KEY: KEYS.write };
  });
  after(async () => {
    await svc.close();
    await tenantDb.drop();
    await revisions.remove();
  });

  const add = async (id: string, tag: string) => {
    const run = await fleetway(
      ["tenants", "add", "--id", id, "--database-url", tenantDb.url, "--schema", id, "--tags", tag],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${id}\n`);
  };

  it("rollout start --wait follows the rollout and exits 0 when it succeeds", async () => {
    for (const id of ["ok_a", "ok_b", "ok_c"]) await add(id, "good");
    const run = await fleetway(
      [
        "rollout",
        "start",
        "--target",
        "head",
        "--tags",
        "good",
        "--waves",
        "1,100%",
        "--max-parallel",
        "2",
        "--wait",
        "--json",
      ],
      { env },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Rollout [0-9a-f-]{36} started: 3 tenants to head/);
    assert.match(
      run.stderr,
      /succeeded wave 2\/2 \[#{30}\] 3\/3/,
      "plain progress lines in a non-interactive log",
    );
    const view = JSON.parse(run.stdout) as { state: string; counts: { succeeded: number } };
    assert.equal(view.state, "succeeded");
    assert.equal(view.counts.succeeded, 3);
  });

  it("rollout start --wait exits 1 when the rollout halts, naming the failed tenant", async () => {
    await add("bad_a", "bad");
    await add("bad_b", "bad");
    await tenantDb.query("CREATE SCHEMA bad_a; CREATE TABLE bad_a.t_k1 (id int)");
    const run = await fleetway(
      ["rollout", "start", "--target", "head", "--tags", "bad", "--waves", "1,100%", "--wait"],
      { env },
    );
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /FAILED \[REMOTE_FAILED\]: Rollout [0-9a-f-]{36} ended halted: wave 1: 1 of 1 tenants failed.*\(failed: bad_a\)/,
    );
    const id = /Rollout ([0-9a-f-]{36}) started/.exec(run.stderr)?.[1] ?? "";
    const status = await fleetway(["rollout", "status", id], { env });
    assert.equal(status.code, 0);
    assert.match(status.stdout, /failed: bad_a \(wave 1\) MIGRATION_FAILED/);
  });

  it("jobs submit --wait, fleet, and usage errors", async () => {
    const job = await fleetway(
      ["jobs", "submit", "--tenant", "bad_b", "--target", "head", "--wait"],
      { env },
    );
    assert.equal(job.code, 0, job.stderr);
    assert.match(job.stdout, /succeeded/);
    const fleet = jsonOf<{ tenants: number; atHead: number }>(
      await fleetway(["fleet", "--json"], { env }),
    );
    assert.equal(fleet.tenants, 5);
    assert.equal(fleet.atHead, 4);
    const unknown = await fleetway(["jobs", "submit", "--tenant", "nobody", "--target", "head"], {
      env,
    });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /TENANT_NOT_FOUND/);
    const noKey = await fleetway(["fleet"], { env: { FLEETWAY_URL: env.FLEETWAY_URL } });
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /No API key/);
  });
});
