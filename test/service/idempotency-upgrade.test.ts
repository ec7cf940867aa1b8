/**
 * Upgrading a control database whose idempotency_keys hold responses in plain text (before
 * control revision c0a1b2c3d407 sealed them): those holding a webhook signing secret are deleted,
 * the others are still replayed until they expire.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startTestService, type TestService } from "../support/service-harness.js";
import { upgradeControlTo } from "../support/control-database.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

describe("idempotency keys stored before responses were sealed", () => {
  let controlDb: TestDatabase;
  let svc: TestService | undefined;
  before(async () => {
    controlDb = await createTestDatabase();
    await upgradeControlTo(controlDb.url, "c0a1b2c3d406");
  });
  after(async () => {
    await svc?.close();
    await controlDb.drop();
  });

  it("are replayed, except those holding a secret, which are deleted", async () => {
    // A refusal, as the route's problem schema has it (replays are serialized through it).
    const problem = {
      type: "https://fleetway.dev/problems/tenant-not-found",
      title: "Not Found",
      status: 404,
      detail: "stored before sealing",
      code: "TENANT_NOT_FOUND",
      instance: "/v1/tenants/acme/jobs",
    };
    await controlDb.query(
      `INSERT INTO idempotency_keys
         (principal, key, method, path, request_hash, status_code, response_headers, response_body)
       VALUES ('writer', 'old-job', 'POST', '/v1/tenants/acme/jobs', 'h1', 404, '{}', $1),
              ('admin', 'old-subscribe', 'POST', '/v1/webhooks', 'h2', 201, '{}',
               '{"subscription": {"id": "s"}, "secret": "whsec_c2VjcmV0"}')`,
      [JSON.stringify(problem)],
    );
    const service = await startTestService({ mode: "api", controlDb });
    svc = service;
    const { rows } = await controlDb.query("SELECT key FROM idempotency_keys ORDER BY key");
    assert.deepEqual(rows, [{ key: "old-job" }]);
    const send = (key: string) =>
      service
        .http()
        .post("/v1/tenants/acme/jobs")
        .set("authorization", service.auth("write"))
        .set("idempotency-key", key)
        .send({ operation: "upgrade", target: "head" });
    // The old row's request, as this version hashes it: that of a probe with the same request.
    await send("probe");
    await controlDb.query(
      `UPDATE idempotency_keys SET request_hash = (
         SELECT request_hash FROM idempotency_keys WHERE key = 'probe') WHERE key = 'old-job'`,
    );
    const replay = await send("old-job");
    assert.equal(replay.headers["idempotency-replayed"], "true");
    assert.equal(replay.status, 404, replay.text);
    assert.deepEqual(replay.body, problem);
  });
});
