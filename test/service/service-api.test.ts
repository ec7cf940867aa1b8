/**
 * The service end to end (supertest against the real app, real PostgreSQL and Redis, the example
 * migration set): tenants, jobs, status, history, target validation, idempotency, auth, secrecy.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, waitForJob, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

const HEAD = "4d0000000002";
const SECRET = "sup3r-s3cret-pw";

describe("service API with the example migrations", () => {
  let svc: TestService;
  let tenantDb: TestDatabase;
  let tenantUrl: string;
  const seen: string[] = [];

  before(async () => {
    svc = await startTestService();
    tenantDb = await createTestDatabase();
    // Trust auth ignores the password; it is there to prove it never leaks.
    tenantUrl = tenantDb.url.replace("postgres@", `postgres:${SECRET}@`);
  });
  after(async () => {
    await svc.close();
    await tenantDb.drop();
  });

  const get = async (path: string, scope: "read" | "write" | "admin" = "read") => {
    const response = await svc.http().get(path).set("authorization", svc.auth(scope));
    seen.push(response.text);
    return response;
  };
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const request = svc.http().post(path).set("authorization", svc.auth("write"));
    for (const [k, v] of Object.entries(headers)) request.set(k, v);
    const response = await request.send(body as object);
    seen.push(response.text);
    return response;
  };

  it("registers a tenant and brings it to head in the same call (migrateTo)", async () => {
    const created = await post("/v1/tenants", {
      id: "acme",
      name: "Acme",
      databaseUrl: tenantUrl,
      schema: "acme",
      tags: ["eu", "pro"],
      migrateTo: "head",
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.location, "/v1/tenants/acme");
    assert.equal(created.body.tenant.databaseUrl.includes(SECRET), false);
    assert.match(created.body.tenant.databaseUrl, /:\*\*\*@/);
    assert.equal(created.body.job.state, "queued");
    const job = await waitForJob(svc, created.body.job.id);
    assert.equal(job.state, "succeeded", JSON.stringify(job.error));
    assert.deepEqual(job.toHeads, [HEAD]);
    const steps = job.steps as { revision: string; state: string; durationMs: number }[];
    assert.equal(steps.length, 15);
    assert.ok(steps.every((s) => s.state === "succeeded" && typeof s.durationMs === "number"));
  });

  it("status reads the tenant database live: at head, nothing pending, last job", async () => {
    const status = await get("/v1/tenants/acme/status");
    assert.equal(status.status, 200, status.text);
    assert.deepEqual(status.body.heads, [HEAD]);
    assert.equal(status.body.atHead, true);
    assert.deepEqual(status.body.pending, []);
    assert.deepEqual(status.body.checksumMismatches, []);
    assert.equal(status.body.lastJob.state, "succeeded");
  });

  it("status names an applied revision whose file changed since it ran, by its latest upgrade", async () => {
    const revision = "1a0000000001";
    const { rows } = await tenantDb.query(
      "SELECT checksum FROM acme.fleetway_history WHERE revision = $1 AND direction = 'up'",
      [revision],
    );
    const current = (rows[0] as { checksum: string } | undefined)?.checksum;
    assert.ok(current !== undefined);
    // As if the file had been edited after it ran: its recorded checksum differs from the file's.
    await tenantDb.query(
      "UPDATE acme.fleetway_history SET checksum = 'edited' WHERE revision = $1 AND direction = 'up'",
      [revision],
    );
    try {
      const status = await get("/v1/tenants/acme/status");
      assert.equal(status.status, 200, status.text);
      assert.deepEqual(status.body.checksumMismatches, [{ revision, applied: "edited", current }]);
    } finally {
      await tenantDb.query(
        "UPDATE acme.fleetway_history SET checksum = $2 WHERE revision = $1 AND direction = 'up'",
        [revision, current],
      );
    }
  });

  it("history lists every applied revision with job, checksum and timing, paginated", async () => {
    const first = await get("/v1/tenants/acme/history?limit=10");
    assert.equal(first.status, 200);
    assert.equal(first.body.items.length, 10);
    assert.ok(first.body.nextCursor);
    const rest = await get(
      `/v1/tenants/acme/history?limit=10&cursor=${first.body.nextCursor as string}`,
    );
    const all = [...first.body.items, ...rest.body.items] as {
      jobId: string | null;
      revision: string;
      direction: string;
      checksum: string;
    }[];
    assert.equal(all.length, 15);
    assert.equal(rest.body.nextCursor, null);
    assert.equal(all[0]?.revision, HEAD);
    assert.ok(
      all.every(
        (h) => h.direction === "up" && /^[0-9a-f]{64}$/.test(h.checksum) && h.jobId !== null,
      ),
    );
  });

  it("job events are ordered by a per-job sequence", async () => {
    const jobs = await get("/v1/jobs?tenant=acme");
    const id = jobs.body.items[0].id as string;
    const events = await get(`/v1/jobs/${id}/events`);
    const items = events.body.items as { seq: number; type: string }[];
    assert.deepEqual(
      items.map((e) => e.seq),
      items.map((_e, i) => i + 1),
    );
    assert.equal(items[0]?.type, "job.queued");
    assert.equal(items.at(-1)?.type, "job.succeeded");
    assert.equal(items.filter((e) => e.type === "job.progress").length, 15);
    // Page by page, as every list pages: following nextCursor visits each event once; `after`
    // (a follower's last seq) starts where it says.
    const paged: number[] = [];
    let cursor: string | null = null;
    do {
      const page = await get(
        `/v1/jobs/${id}/events?limit=7${cursor === null ? "" : `&cursor=${cursor}`}`,
      );
      assert.equal(page.status, 200, page.text);
      paged.push(...(page.body.items as { seq: number }[]).map((e) => e.seq));
      cursor = page.body.nextCursor as string | null;
    } while (cursor !== null && paged.length <= items.length);
    assert.deepEqual(
      paged,
      items.map((e) => e.seq),
    );
    const after = await get(`/v1/jobs/${id}/events?after=${items.length - 1}`);
    assert.deepEqual(
      [(after.body.items as { seq: number }[]).map((e) => e.seq), after.body.nextCursor],
      [[items.length], null],
    );
  });

  it("downgrade -1, then stamp back to head without running anything", async () => {
    const down = await post("/v1/tenants/acme/jobs", { operation: "downgrade", target: "-1" });
    assert.equal(down.status, 202, down.text);
    assert.equal(down.headers.location, `/v1/jobs/${down.body.id as string}`);
    assert.equal((await waitForJob(svc, down.body.id)).state, "succeeded");
    assert.deepEqual((await get("/v1/tenants/acme/status")).body.heads, ["4d0000000001"]);
    const views = await tenantDb.query(
      "SELECT count(*)::int AS n FROM pg_views WHERE schemaname = 'acme'",
    );
    assert.deepEqual(views.rows, [{ n: 0 }]);

    const stamp = await post("/v1/tenants/acme/jobs", { operation: "stamp", target: "head" });
    assert.equal((await waitForJob(svc, stamp.body.id)).state, "succeeded");
    const status = await get("/v1/tenants/acme/status");
    assert.deepEqual(status.body.heads, [HEAD]);
    assert.deepEqual(
      (await tenantDb.query("SELECT count(*)::int AS n FROM pg_views WHERE schemaname = 'acme'"))
        .rows,
      [{ n: 0 }],
    );
    // back to a real head for the tests below
    await post("/v1/tenants/acme/jobs", { operation: "stamp", target: "4d0000000001" }).then((r) =>
      waitForJob(svc, r.body.id),
    );
    await post("/v1/tenants/acme/jobs", { operation: "upgrade", target: "head" }).then((r) =>
      waitForJob(svc, r.body.id),
    );
  });

  it("refuses unknown, ambiguous and malformed targets before queueing", async () => {
    const unknown = await post("/v1/tenants/acme/jobs", {
      operation: "upgrade",
      target: "ffffffffffff",
    });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.headers["content-type"], "application/problem+json; charset=utf-8");
    assert.equal(unknown.body.code, "UNKNOWN_REVISION");
    assert.match(unknown.body.detail, /Can't locate revision identified by 'ffffffffffff'/);
    const ambiguous = await post("/v1/tenants/acme/jobs", {
      operation: "downgrade",
      target: "1a000000000",
    });
    assert.equal(ambiguous.status, 422);
    assert.equal(ambiguous.body.code, "AMBIGUOUS_REVISION");
    const invalid = await post("/v1/tenants/acme/jobs", { operation: "sideways", target: "head" });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.code, "VALIDATION_ERROR");
    const typo = await post("/v1/tenants/acme/jobs", {
      operation: "upgrade",
      target: "head",
      trasnactionMode: "all",
    });
    assert.equal(typo.status, 400, "unknown fields are refused, not dropped");
    assert.equal((await get("/v1/jobs?tenant=acme&state=queued")).body.items.length, 0);
  });

  it("Idempotency-Key: the same request replays the original response; another body is 422", async () => {
    const body = { id: "globex", name: "Globex", databaseUrl: tenantUrl, schema: "globex" };
    const first = await post("/v1/tenants", body, { "idempotency-key": "create-globex" });
    assert.equal(first.status, 201);
    const again = await post("/v1/tenants", body, { "idempotency-key": "create-globex" });
    assert.equal(again.status, 201);
    assert.equal(again.headers["idempotency-replayed"], "true");
    assert.deepEqual(again.body, first.body);
    assert.equal(again.headers.location, "/v1/tenants/globex");
    const other = await post(
      "/v1/tenants",
      { ...body, name: "Other" },
      { "idempotency-key": "create-globex" },
    );
    assert.equal(other.status, 422);
    assert.equal(other.body.code, "IDEMPOTENCY_KEY_REUSED");
    const without = await post("/v1/tenants", body);
    assert.equal(without.status, 409);
    assert.equal(without.body.code, "TENANT_EXISTS");
  });

  it("Idempotency-Key: a refusal echoing text jsonb cannot hold (NUL) is kept and replayed", async () => {
    const body = { operation: "upgrade", target: "ffff\u0000ffff" };
    const first = await post("/v1/tenants/acme/jobs", body, { "idempotency-key": "nul-target" });
    assert.equal(first.status, 422, JSON.stringify(first.body));
    const again = await post("/v1/tenants/acme/jobs", body, { "idempotency-key": "nul-target" });
    assert.equal(again.status, 422, JSON.stringify(again.body));
    assert.equal(again.headers["idempotency-replayed"], "true");
    assert.equal(again.body.code, first.body.code);
  });

  it("Idempotency-Key: a claim never answered is taken over once its lease has passed", async () => {
    const body = { operation: "upgrade", target: "nosuchrev" };
    const probe = await post("/v1/tenants/acme/jobs", body, { "idempotency-key": "lease-probe" });
    assert.equal(probe.status, 422, probe.text);
    // What a request leaves behind when its process dies after claiming its key: the key with
    // the request's hash and no response; one claimed a minute ago, one six minutes ago.
    await svc.controlDb.query(
      `INSERT INTO idempotency_keys (principal, key, method, path, request_hash, created_at)
       SELECT principal, k.key, method, path, request_hash, now() - k.age
         FROM idempotency_keys,
              (VALUES ('lease-fresh', interval '1 minute'),
                      ('lease-abandoned', interval '6 minutes')) AS k (key, age)
        WHERE idempotency_keys.key = 'lease-probe'`,
    );
    const fresh = await post("/v1/tenants/acme/jobs", body, { "idempotency-key": "lease-fresh" });
    assert.equal(fresh.status, 409, fresh.text);
    assert.equal(fresh.body.code, "IDEMPOTENCY_IN_PROGRESS");
    const retry = await post("/v1/tenants/acme/jobs", body, {
      "idempotency-key": "lease-abandoned",
    });
    assert.equal(retry.status, 422, retry.text);
    assert.equal(retry.body.code, probe.body.code);
    assert.equal(retry.headers["idempotency-replayed"], undefined, "the retry ran the request");
    const again = await post("/v1/tenants/acme/jobs", body, {
      "idempotency-key": "lease-abandoned",
    });
    assert.equal(again.headers["idempotency-replayed"], "true", "and its response was kept");
    // Another body under an abandoned key is still another request.
    const other = await post(
      "/v1/tenants/acme/jobs",
      { ...body, target: "other" },
      { "idempotency-key": "lease-abandoned" },
    );
    assert.equal(other.body.code, "IDEMPOTENCY_KEY_REUSED");
  });

  it("Idempotency-Key: a response that could not be stored releases its key", async () => {
    // The control database refuses to store this key's response (disk full, a failover...).
    await svc.controlDb.query(
      `CREATE FUNCTION refuse_unstorable() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN RAISE EXCEPTION 'cannot store'; END $$;
       CREATE TRIGGER refuse_unstorable BEFORE UPDATE ON idempotency_keys FOR EACH ROW
         WHEN (NEW.key = 'unstorable' AND NEW.status_code IS NOT NULL)
         EXECUTE FUNCTION refuse_unstorable()`,
    );
    const body = { operation: "upgrade", target: "nosuchrev" };
    try {
      const first = await post("/v1/tenants/acme/jobs", body, { "idempotency-key": "unstorable" });
      assert.equal(first.status, 422, "the request's own response, not a 500 inviting a re-run");
    } finally {
      await svc.controlDb.query(
        "DROP TRIGGER refuse_unstorable ON idempotency_keys; DROP FUNCTION refuse_unstorable()",
      );
    }
    const retry = await post("/v1/tenants/acme/jobs", body, { "idempotency-key": "unstorable" });
    assert.notEqual(retry.body.code, "IDEMPOTENCY_IN_PROGRESS", retry.text);
    assert.equal(retry.status, 422, retry.text);
  });

  it("Idempotency-Key: keys are forgotten after their retention, and deleted", async () => {
    const body = { operation: "upgrade", target: "nosuchrev" };
    for (const key of ["retention-reuse", "retention-purge"]) {
      assert.equal(
        (await post("/v1/tenants/acme/jobs", body, { "idempotency-key": key })).status,
        422,
      );
    }
    await svc.controlDb.query(
      `UPDATE idempotency_keys SET created_at = now() - interval '25 hours'
        WHERE key IN ('retention-reuse', 'retention-purge')`,
    );
    // A day later the key is free for another request (whether or not it was deleted yet).
    const reused = await post(
      "/v1/tenants/acme/jobs",
      { ...body, target: "other" },
      { "idempotency-key": "retention-reuse" },
    );
    assert.equal(reused.status, 422, reused.text);
    assert.notEqual(reused.body.code, "IDEMPOTENCY_KEY_REUSED");
    // The reconciler (every 500 ms here) deletes expired keys, and only those.
    const deadline = Date.now() + 10_000;
    const remaining = async () =>
      (
        await svc.controlDb.query(
          "SELECT key FROM idempotency_keys WHERE key LIKE 'retention-%' ORDER BY key",
        )
      ).rows.map((r) => (r as { key: string }).key);
    while ((await remaining()).includes("retention-purge") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(await remaining(), ["retention-reuse"]);
  });

  it("API keys: missing, wrong, and insufficient scope", async () => {
    const missing = await svc.http().get("/v1/tenants");
    assert.equal(missing.status, 401);
    assert.equal(missing.body.code, "UNAUTHORIZED");
    const wrong = await svc
      .http()
      .get("/v1/tenants")
      .set("authorization", "Bearer not-a-key-at-all-xx");
    assert.equal(wrong.status, 401);
    const readOnly = await svc
      .http()
      .post("/v1/tenants/acme/jobs")
      .set("authorization", svc.auth("read"))
      .send({ operation: "upgrade", target: "head" });
    assert.equal(readOnly.status, 403);
    assert.equal(readOnly.body.code, "FORBIDDEN");
    const health = await svc.http().get("/healthz");
    assert.equal(health.status, 200, "probes need no key");
  });

  it("lists and filters tenants with cursor pagination", async () => {
    const page1 = await get("/v1/tenants?limit=1");
    assert.equal(page1.body.items.length, 1);
    assert.equal(page1.body.items[0].id, "acme");
    const page2 = await get(`/v1/tenants?limit=1&cursor=${page1.body.nextCursor as string}`);
    assert.equal(page2.body.items[0].id, "globex");
    assert.equal(page2.body.nextCursor, null);
    assert.deepEqual(
      (await get("/v1/tenants?tag=eu")).body.items.map((t: { id: string }) => t.id),
      ["acme"],
    );
    assert.deepEqual(
      (await get(`/v1/tenants?revision=${HEAD}`)).body.items.map((t: { id: string }) => t.id),
      ["acme"],
    );
    assert.deepEqual(
      (await get("/v1/tenants?jobState=succeeded")).body.items.map((t: { id: string }) => t.id),
      ["acme"],
    );
    assert.equal((await get("/v1/tenants?cursor=garbage!")).status, 400);
  });

  it("a cursor this API did not issue is 400 INVALID_CURSOR on every list, never a 500", async () => {
    const jobId = ((await get("/v1/jobs?limit=1")).body.items[0] as { id: string }).id;
    const forge = (key: unknown) => Buffer.from(JSON.stringify(key)).toString("base64url");
    // Values no list issues, or that a PostgreSQL cast of some list's key would refuse.
    const everywhere = ["garbage!", ...[1.5, 1e300, "\u0000", ["x", 1], null, {}].map(forge)];
    const notText = [forge("abc"), forge("2026-02-30T00:00:00.000Z")];
    const lists: [string, string[]][] = [
      ["/v1/tenants", everywhere],
      ["/v1/tenants/acme/history", [...everywhere, ...notText]],
      ["/v1/jobs", [...everywhere, ...notText]],
      [`/v1/jobs/${jobId}/deliveries`, [...everywhere, ...notText]],
      ["/v1/rollouts", [...everywhere, ...notText]],
      ["/v1/webhooks", [...everywhere, ...notText]],
    ];
    const wrong: string[] = [];
    for (const [path, cursors] of lists) {
      for (const cursor of cursors) {
        const r = await get(`${path}?cursor=${cursor}`);
        if (r.status !== 400 || r.body.code !== "INVALID_CURSOR") {
          wrong.push(`${path}?cursor=${cursor}: ${r.status} ${r.body.code as string}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });

  it("PATCH changes a tenant; DELETE forgets it", async () => {
    const patched = await svc
      .http()
      .patch("/v1/tenants/globex")
      .set("authorization", svc.auth("write"))
      .send({ tags: ["us"] });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.tags, ["us"]);
    const deleted = await svc
      .http()
      .delete("/v1/tenants/globex")
      .set("authorization", svc.auth("write"));
    assert.equal(deleted.status, 204);
    assert.equal((await get("/v1/tenants/globex")).status, 404);
  });

  it("describes the migration set and plans against a tenant's live heads", async () => {
    const set = await get("/v1/migrations");
    assert.deepEqual(set.body.heads, [HEAD]);
    assert.equal(set.body.revisions.length, 15);
    assert.match(set.body.scriptsDigest, /^[0-9a-f]{64}$/);
    assert.deepEqual(set.body.branchLabels, { billing: "2b0000000001", audit: "3c0000000001" });
    const one = await get("/v1/migrations/3c00000000");
    assert.equal(one.status, 422, "ambiguous prefix");
    const merge = await get("/v1/migrations/4d0000000001");
    assert.equal(merge.body.isMergePoint, true);
    const plan = await get("/v1/plan?tenant=acme&target=base&operation=downgrade");
    assert.equal(plan.status, 200, plan.text);
    assert.equal(plan.body.steps.length, 15);
    assert.match(plan.body.sql, /DROP TABLE users;/);
    assert.deepEqual(
      (await get("/v1/tenants/acme/status")).body.heads,
      [HEAD],
      "plan changed nothing",
    );
  });

  it("readiness, metrics and the OpenAPI document", async () => {
    const ready = await svc.http().get("/readyz");
    assert.equal(ready.status, 200, ready.text);
    assert.deepEqual(ready.body.checks, { controlDatabase: "ok", redis: "ok" });
    const metrics = await svc.http().get("/metrics");
    assert.match(metrics.text, /fleetway_jobs\{state="succeeded"\} \d+/);
    assert.match(metrics.text, /fleetway_step_duration_seconds_count\{direction="up"\} \d+/);
    assert.match(metrics.text, /fleetway_queue_depth/);
    // Read from the control database at scrape time: a share of its server's NOTIFY queue.
    const usage = /^fleetway_control_notify_queue_usage_ratio (\S+)$/m.exec(metrics.text)?.[1];
    assert.ok(usage !== undefined, "no NOTIFY queue usage");
    assert.ok(Number(usage) >= 0 && Number(usage) <= 1, `usage ${usage}`);
    const docs = await svc.http().get("/docs/json");
    assert.equal(docs.body.openapi, "3.1.0");
  });

  it("the connection string appears in no response and no log line", () => {
    assert.ok(seen.length > 20);
    for (const text of seen)
      assert.ok(!text.includes(SECRET), `response leaked the password: ${text.slice(0, 200)}`);
    assert.ok(svc.logs.length > 20);
    for (const line of svc.logs)
      assert.ok(!line.includes(SECRET), `log leaked the password: ${line}`);
  });
});

describe("service adopting a fleet Alembic managed (FLEETWAY_VERSION_TABLE=alembic_version)", () => {
  let svc: TestService;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    revisions = await revisionDir([tableRevision("ae1"), tableRevision("ae2", ["ae1"])]);
    tenantDb = await createTestDatabase();
    // What Alembic itself creates, and the state it left: ae1 applied.
    await tenantDb.query(`CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,
      CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))`);
    await tenantDb.query("CREATE TABLE t_ae1 (id int); INSERT INTO alembic_version VALUES ('ae1')");
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_VERSION_TABLE: "alembic_version" },
    });
  });
  after(async () => {
    await svc.close();
    await tenantDb.drop();
    await revisions.remove();
  });
  const get = (path: string) => svc.http().get(path).set("authorization", svc.auth("read"));

  it("reads, plans and migrates through alembic_version, and never creates its own version table", async () => {
    const created = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({ id: "legacy", name: "Legacy", databaseUrl: tenantDb.url });
    assert.equal(created.status, 201, created.text);
    const status = await get("/v1/tenants/legacy/status");
    assert.equal(status.status, 200, status.text);
    assert.deepEqual([status.body.heads, status.body.pending], [["ae1"], ["ae2"]]);
    const plan = await get("/v1/plan?tenant=legacy&target=head");
    assert.equal(plan.status, 200, plan.text);
    assert.deepEqual(plan.body.fromHeads, ["ae1"]);
    assert.match(plan.body.sql as string, /UPDATE "alembic_version"/);
    const job = await svc
      .http()
      .post("/v1/tenants/legacy/jobs")
      .set("authorization", svc.auth("write"))
      .send({ operation: "upgrade", target: "head" });
    assert.equal(job.status, 202, job.text);
    const finished = await waitForJob(svc, job.body.id as string);
    assert.deepEqual(
      [finished.state, finished.fromHeads, finished.toHeads],
      ["succeeded", ["ae1"], ["ae2"]],
    );
    const { rows } = await tenantDb.query(
      "SELECT (SELECT array_agg(version_num) FROM alembic_version) AS alembic, to_regclass('fleetway_version') AS ours",
    );
    assert.deepEqual(rows, [{ alembic: ["ae2"], ours: null }]);
    const history = await get("/v1/tenants/legacy/history");
    assert.deepEqual(
      (history.body.items as { revision: string }[]).map((h) => h.revision),
      ["ae2"],
    );
  });
});
