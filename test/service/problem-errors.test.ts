/**
 * The error handler's promise (DESIGN.md: 5xx never leaks internals) for Fleetway's own errors:
 * a code with an HTTP status keeps its message and data; one without is a generic 500.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import Fastify, { type FastifyInstance } from "fastify";
import { ErrorCode, FleetwayError } from "../../src/engine/errors.js";
import { registerProblemErrors } from "../../src/http/plugins/problem-errors.js";

describe("problem errors", () => {
  let app: FastifyInstance;
  before(async () => {
    app = Fastify({ logger: false });
    registerProblemErrors(app);
    app.get("/busy", () => {
      throw new FleetwayError(ErrorCode.TENANT_BUSY, "Tenant t1 is busy", { tenantId: "t1" });
    });
    app.get("/internal", () => {
      throw new FleetwayError(
        ErrorCode.VERSION_TABLE_CONFLICT,
        "Version table secret_schema.fleetway_version changed concurrently",
        { table: "secret_schema.fleetway_version" },
      );
    });
    await app.ready();
  });
  after(async () => {
    await app.close();
  });

  it("a mapped code keeps its status, message and data", async () => {
    const response = await app.inject({ method: "GET", url: "/busy" });
    assert.equal(response.statusCode, 409);
    const body = response.json<{ code: string; detail: string; data: unknown }>();
    assert.deepEqual(
      [body.code, body.detail, body.data],
      ["TENANT_BUSY", "Tenant t1 is busy", { tenantId: "t1" }],
    );
  });

  it("an unmapped code is a 500 that keeps its message and data in the log", async () => {
    const response = await app.inject({ method: "GET", url: "/internal" });
    assert.equal(response.statusCode, 500);
    assert.equal(response.json<{ code: string }>().code, "INTERNAL_ERROR");
    assert.doesNotMatch(response.body, /secret_schema|VERSION_TABLE_CONFLICT/);
  });
});
