/** Provisioning: Fleetway creates a tenant's database or schema, migrates it, says when it is ready. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { Webhook } from "standardwebhooks";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, waitForJob, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { startReceiver, type Receiver } from "../support/webhook-receiver.js";

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return (
      (await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount === 1
    );
  } finally {
    await client.end();
  }
}

describe("tenant provisioning", () => {
  let svc: TestService;
  let receiver: Receiver;
  let tenantDb: TestDatabase;
  let revisions: RevisionDir;
  const database = `fleetway_prov_${randomBytes(4).toString("hex")}`;

  before(async () => {
    revisions = await revisionDir([tableRevision("v1"), tableRevision("v2", ["v1"])]);
    receiver = await startReceiver();
    tenantDb = await createTestDatabase();
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_PROVISION_ADMIN_URL: ADMIN_URL, FLEETWAY_WEBHOOK_ALLOW: "127.0.0.1" },
    });
  });
  after(async () => {
    await svc.close();
    await receiver.close();
    await tenantDb.drop();
    await revisions.remove();
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  });

  it("creates the database, migrates it, and sends tenant.ready; the same request replays", async () => {
    const sub = await svc
      .http()
      .post("/v1/webhooks")
      .set("authorization", svc.auth("admin"))
      .send({ url: `${receiver.url}/ready`, eventTypes: ["tenant.ready"] });
    assert.equal(sub.status, 201, sub.text);
    const body = {
      id: "newco",
      name: "NewCo",
      provision: { database: true, name: database },
      migrateTo: "head",
    };
    const created = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .set("idempotency-key", "signup-newco")
      .send(body);
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.body.tenant.provisioned, { database });
    assert.ok(await databaseExists(database));
    assert.equal((await waitForJob(svc, created.body.job.id)).state, "succeeded");

    const [ready] = await receiver.waitFor(1, "/ready");
    assert.ok(ready);
    const event = new Webhook(sub.body.secret).verify(ready.body, {
      "webhook-id": String(ready.headers["webhook-id"]),
      "webhook-timestamp": String(ready.headers["webhook-timestamp"]),
      "webhook-signature": String(ready.headers["webhook-signature"]),
    }) as { type: string; data: { tenant: { id: string; heads: string[] }; jobId: string } };
    assert.equal(event.type, "tenant.ready");
    assert.equal(event.data.tenant.id, "newco");
    assert.deepEqual(event.data.tenant.heads, ["v2"]);
    const status = await svc
      .http()
      .get("/v1/tenants/newco/status")
      .set("authorization", svc.auth("read"));
    assert.deepEqual(status.body.heads, ["v2"]);

    const again = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .set("idempotency-key", "signup-newco")
      .send(body);
    assert.equal(again.status, 201);
    assert.equal(again.headers["idempotency-replayed"], "true");
    assert.equal(again.body.job.id, created.body.job.id);
  });

  it("creates a schema in a given database", async () => {
    const created = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({
        id: "schemaco",
        name: "SchemaCo",
        databaseUrl: tenantDb.url,
        provision: { schema: true },
      });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.tenant.schema, "schemaco");
    const schemas = await tenantDb.query("SELECT 1 FROM pg_namespace WHERE nspname = 'schemaco'");
    assert.equal(schemas.rowCount, 1);
  });

  it("DELETE drops only with drop=true and admin scope, and only what was provisioned", async () => {
    const plain = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({ id: "plain", name: "Plain", databaseUrl: tenantDb.url });
    assert.equal(plain.status, 201);
    const notProvisioned = await svc
      .http()
      .delete("/v1/tenants/plain?drop=true")
      .set("authorization", svc.auth("admin"));
    assert.equal(notProvisioned.status, 422);
    assert.equal(notProvisioned.body.code, "NOT_PROVISIONED");

    const writeKey = await svc
      .http()
      .delete("/v1/tenants/newco?drop=true")
      .set("authorization", svc.auth("write"));
    assert.equal(writeKey.status, 403);
    assert.ok(await databaseExists(database));
    const dropped = await svc
      .http()
      .delete("/v1/tenants/newco?drop=true")
      .set("authorization", svc.auth("admin"));
    assert.equal(dropped.status, 204, dropped.text);
    assert.equal(await databaseExists(database), false);

    const kept = await svc
      .http()
      .delete("/v1/tenants/schemaco")
      .set("authorization", svc.auth("write"));
    assert.equal(kept.status, 204);
    assert.equal(
      (await tenantDb.query("SELECT 1 FROM pg_namespace WHERE nspname = 'schemaco'")).rowCount,
      1,
      "without drop nothing is dropped",
    );
  });
});
