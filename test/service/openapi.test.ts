/** openapi/openapi.json is generated from the routes: this fails when it is stale. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { buildOpenApiDocument, OPENAPI_PATH } from "../../src/http/write-openapi.js";
import { REDIS_URL } from "../support/service-harness.js";

describe("OpenAPI document", () => {
  it("the committed openapi/openapi.json matches the routes (run `npm run openapi` to update)", async () => {
    const generated = await buildOpenApiDocument({ REDIS_URL });
    const committed = await readFile(OPENAPI_PATH, "utf8");
    assert.equal(
      committed,
      generated,
      "openapi/openapi.json is stale: run `npm run openapi` and commit it",
    );
    const document = JSON.parse(generated) as {
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    assert.ok(Object.keys(document.paths).includes("/v1/tenants/{id}/jobs"));
    assert.deepEqual(
      document.paths["/healthz"]?.get?.security,
      [],
      "probes are documented as public",
    );
  });
});
