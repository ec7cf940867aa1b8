/** Body size and rate limits answer with problem documents, per API key. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { startTestService, type TestService } from "../support/service-harness.js";

describe("service limits", () => {
  let svc: TestService;
  let revisions: RevisionDir;
  before(async () => {
    revisions = await revisionDir([tableRevision("l1")]);
    svc = await startTestService({
      migrationsDir: revisions.dir,
      env: { FLEETWAY_RATE_LIMIT_PER_MINUTE: "5", FLEETWAY_BODY_LIMIT_BYTES: "2048" },
    });
  });
  after(async () => {
    await svc.close();
    await revisions.remove();
  });

  it("refuses a body over the limit with 413 PAYLOAD_TOO_LARGE", async () => {
    const response = await svc
      .http()
      .post("/v1/tenants")
      .set("authorization", svc.auth("admin"))
      .send({ id: "big", name: "x".repeat(4000), databaseUrl: "postgres://h/d" });
    assert.equal(response.status, 413);
    assert.equal(response.body.code, "PAYLOAD_TOO_LARGE");
  });

  it("limits requests per API key with 429 RATE_LIMITED; probes are not limited", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      statuses.push(
        (await svc.http().get("/v1/tenants").set("authorization", svc.auth("read"))).status,
      );
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
    const limited = await svc.http().get("/v1/tenants").set("authorization", svc.auth("read"));
    assert.equal(limited.body.code, "RATE_LIMITED");
    assert.ok(limited.headers["retry-after"] !== undefined);
    const otherKey = await svc.http().get("/v1/tenants").set("authorization", svc.auth("write"));
    assert.equal(otherKey.status, 200, "another key has its own budget");
    for (let i = 0; i < 8; i++) assert.equal((await svc.http().get("/healthz")).status, 200);
  });
});
