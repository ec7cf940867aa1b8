/** The deploy-tooling verbs of the CLI against a running service, with their exit codes. */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
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

  it("rollout start --ids with an id that is not a tenant is refused, exit 2, naming it", async () => {
    const run = await fleetway(
      ["rollout", "start", "--target", "head", "--ids", "ok_a,ok_typo", "--wait"],
      { env },
    );
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /FAILED \[UNKNOWN_TENANTS\]: .*ok_typo/);
    assert.doesNotMatch(run.stderr, /started/);
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

describe("fleetway remote verbs: exit code of a refusal or failure the service answers", () => {
  let server: Server;
  let url: string;
  let answer = { status: 500, contentType: "application/problem+json", body: "" };
  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(answer.status, { "content-type": answer.contentType });
      res.end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });
  const problem = (status: number, code: string) => ({
    status,
    contentType: "application/problem+json",
    body: JSON.stringify({ type: "about:blank", title: "x", status, detail: "refused", code }),
  });

  // 1: the command is right, the service failed or asked to retry later; 2: fix the command.
  for (const [status, code, exit] of [
    [500, "INTERNAL_ERROR", 1],
    [429, "RATE_LIMITED", 1],
    [502, "TENANT_UNREACHABLE", 1],
    [502, "PROVISIONING_FAILED", 1],
    [503, "SERVICE_UNAVAILABLE", 1],
    [503, "A_CODE_FROM_A_NEWER_SERVICE", 1],
    [409, "TENANT_BUSY", 1],
    [409, "TENANT_DELETING", 1],
    [400, "VALIDATION_ERROR", 2],
    [404, "TENANT_NOT_FOUND", 2],
    [422, "UNKNOWN_REVISION", 2],
  ] as const) {
    it(`${status} ${code} exits ${exit}`, async () => {
      answer = problem(status, code);
      const run = await fleetway(["fleet", "--url", url, "--api-key", "k"]);
      assert.equal(run.code, exit, run.stderr);
      assert.match(run.stderr, new RegExp(`FAILED \\[${code}\\]: refused`));
    });
  }

  it("a body that is not a problem document (a proxy's HTML 502) is reported by status, exit 1", async () => {
    answer = {
      status: 502,
      contentType: "text/html",
      body: "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body></html>",
    };
    const run = await fleetway(["fleet", "--url", url, "--api-key", "k"]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /HTTP 502 Bad Gateway from http:\/\/127\.0\.0\.1:\d+: <html> <head><title>502/,
    );
    assert.doesNotMatch(run.stderr, /SyntaxError|JSON/);
    answer = { status: 404, contentType: "application/json", body: "not json" };
    const wrongPath = await fleetway(["fleet", "--url", url, "--api-key", "k"]);
    assert.equal(wrongPath.code, 2, wrongPath.stderr);
    assert.match(wrongPath.stderr, /HTTP 404 Not Found from .*: not json/);
  });
});
