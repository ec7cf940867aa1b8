/**
 * A databaseUrl that node-postgres cannot parse (a password with an unescaped `#`, `/` or `?`, a
 * common mistake) must be refused when it is given, not stored: stored, it makes every status and
 * plan read of the tenant a 500 INTERNAL_ERROR and every job fail after all its attempts.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, type TestService } from "../support/service-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

describe("tenant databaseUrl validation", () => {
  let svc: TestService;
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    revisions = await revisionDir([tableRevision("v1")]);
    db = await createTestDatabase();
    svc = await startTestService({ migrationsDir: revisions.dir, mode: "api" });
  });
  after(async () => {
    await svc.close();
    await db.drop();
    await revisions.remove();
  });

  it("POST refuses a connection string that cannot be parsed with 400 VALIDATION_ERROR", async () => {
    const unusable = db.url.replace("postgres@", "postgres:p#ss@");
    const created = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({ id: "hash", name: "Hash", databaseUrl: unusable });
    if (created.status === 201) {
      const status = await svc
        .http()
        .get("/v1/tenants/hash/status")
        .set("authorization", svc.auth("read"));
      assert.fail(
        `registered (201, databaseUrl shown as ${created.body.tenant.databaseUrl}); ` +
          `then GET status answered ${status.status} ${status.body.code}`,
      );
    }
    assert.equal(created.status, 400, created.text);
    assert.equal(created.body.code, "VALIDATION_ERROR");
    assert.ok(!created.text.includes("p#ss"), "the refusal does not echo the password");
  });

  it("PATCH refuses it too", async () => {
    const ok = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("write"))
      .send({ id: "fine", name: "Fine", databaseUrl: db.url });
    assert.equal(ok.status, 201, ok.text);
    const patched = await svc
      .http()
      .patch("/v1/tenants/fine")
      .set("authorization", svc.auth("write"))
      .send({ databaseUrl: db.url.replace("postgres@", "postgres:a/b@") });
    assert.equal(patched.status, 400, patched.text);
  });
});
