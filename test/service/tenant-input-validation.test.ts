/**
 * Input the schemas accept but PostgreSQL refuses: a 500 INTERNAL_ERROR (or a job failing with
 * "The worker failed unexpectedly") where a 400 VALIDATION_ERROR naming the field belongs.
 * Tags already refuse control characters for this reason (common-schemas.ts `Tag`); names and the
 * list filters do not, and schema names may start with the reserved `pg_`.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, type TestService } from "../support/service-harness.js";

describe("tenant input PostgreSQL cannot store or use", () => {
  let svc: TestService;
  let revisions: RevisionDir;
  before(async () => {
    revisions = await revisionDir([tableRevision("v1")]);
    svc = await startTestService({ migrationsDir: revisions.dir, mode: "api" });
  });
  after(async () => {
    await svc.close();
    await revisions.remove();
  });
  const send = (method: "post" | "patch", path: string, body: object) =>
    svc.http()[method](path).set("authorization", svc.auth("write")).send(body);
  const get = (path: string) => svc.http().get(path).set("authorization", svc.auth("read"));

  it("a name with a NUL character is 400, on POST and on PATCH", async () => {
    const created = await send("post", "/v1/tenants", {
      id: "nul",
      name: "Acme\u0000Corp",
      databaseUrl: "postgres://db.internal/acme",
    });
    assert.equal(created.status, 400, created.text);
    const ok = await send("post", "/v1/tenants", {
      id: "fine",
      name: "Fine",
      databaseUrl: "postgres://db.internal/fine",
    });
    assert.equal(ok.status, 201, ok.text);
    const patched = await send("patch", "/v1/tenants/fine", { name: "x\u0000y" });
    assert.equal(patched.status, 400, patched.text);
  });

  it("GET /v1/tenants filters with a NUL character are 400", async () => {
    for (const filter of ["tag", "revision", "jobState"]) {
      const listed = await get(`/v1/tenants?${filter}=a%00b`);
      assert.equal(listed.status, 400, `${filter}: ${listed.text}`);
    }
  });

  it("a schema PostgreSQL reserves (pg_...) is refused when given", async () => {
    const created = await send("post", "/v1/tenants", {
      id: "reserved",
      name: "Reserved",
      databaseUrl: "postgres://db.internal/r",
      schema: "pg_tenant",
    });
    // Accepted, every job of this tenant fails with INTERNAL_ERROR "The worker failed
    // unexpectedly" (CREATE SCHEMA: unacceptable schema name "pg_tenant", SQLSTATE 42939).
    assert.equal(created.status, 400, created.text);
  });
});
