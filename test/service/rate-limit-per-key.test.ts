/**
 * FLEETWAY_RATE_LIMIT_PER_MINUTE is "requests per minute per API key". The limiter keys on the
 * Authorization header's exact text, while authentication accepts the same key written many ways
 * (`Bearer`/`bearer`/`BEARER`, one or more spaces or a tab): each spelling gets a budget of its
 * own, so one key can send any number of requests.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { KEYS, startTestService, type TestService } from "../support/service-harness.js";

describe("rate limit per API key", () => {
  let svc: TestService;
  let revisions: RevisionDir;
  before(async () => {
    revisions = await revisionDir([tableRevision("l1")]);
    svc = await startTestService({
      migrationsDir: revisions.dir,
      mode: "api",
      env: { FLEETWAY_RATE_LIMIT_PER_MINUTE: "3" },
    });
  });
  after(async () => {
    await svc.close();
    await revisions.remove();
  });

  it("one key has one budget, however its Authorization header is spelled", async () => {
    const spellings = [
      `Bearer ${KEYS.read}`,
      `bearer ${KEYS.read}`,
      `BEARER ${KEYS.read}`,
      `Bearer  ${KEYS.read}`,
      `Bearer   ${KEYS.read}`,
      `Bearer\t${KEYS.read}`,
    ];
    let accepted = 0;
    for (const header of spellings) {
      for (let i = 0; i < 3; i++) {
        const response = await svc.http().get("/v1/tenants").set("authorization", header);
        if (response.status === 200) accepted++;
        else assert.equal(response.status, 429, response.text);
      }
    }
    assert.equal(
      accepted,
      3,
      `the key 'reader' got ${accepted} requests through a limit of 3/minute`,
    );
  });
});
