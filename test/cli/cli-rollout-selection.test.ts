/**
 * `rollout start --tags "$TAGS"` with an empty variable must not become a rollout of the whole
 * fleet: only leaving out --tags and --ids means every tenant.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { fleetway } from "../support/cli-harness.js";

describe("rollout start tenant selection", () => {
  let server: Server;
  let url: string;
  const bodies: unknown[] = [];

  before(async () => {
    server = createServer((req, res) => {
      let text = "";
      req.on("data", (chunk: Buffer) => (text += chunk.toString()));
      req.on("end", () => {
        bodies.push(JSON.parse(text));
        res.writeHead(201, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: "r1", totalTenants: 1000, state: "running" }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("--tags and --ids together is a usage error", async () => {
    bodies.length = 0;
    const run = await fleetway(
      ["rollout", "start", "--target", "head", "--tags", "eu", "--ids", "t1"],
      { env: { FLEETWAY_URL: url, FLEETWAY_API_KEY: "k".repeat(20) } },
    );
    assert.deepEqual(bodies, []);
    assert.equal(run.code, 2);
  });

  it("--tags picks the tagged tenants, and no selection every tenant", async () => {
    bodies.length = 0;
    const env = { FLEETWAY_URL: url, FLEETWAY_API_KEY: "k".repeat(20) };
    await fleetway(["rollout", "start", "--target", "head", "--tags", "eu,us"], { env });
    await fleetway(["rollout", "start", "--target", "head"], { env });
    assert.deepEqual(
      bodies.map((b) => (b as { tenants: unknown }).tenants),
      [{ tags: ["eu", "us"] }, { all: true }],
    );
  });

  for (const flag of ["--tags", "--ids"]) {
    it(`an empty ${flag} is a usage error, not every tenant`, async () => {
      bodies.length = 0;
      const run = await fleetway(["rollout", "start", "--target", "head", flag, ""], {
        env: { FLEETWAY_URL: url, FLEETWAY_API_KEY: "k".repeat(20) },
      });
      assert.deepEqual(bodies, [], `no rollout requested; sent ${JSON.stringify(bodies)}`);
      assert.equal(run.code, 2);
    });
  }
});

describe("remote verbs' settings", () => {
  it("a blank FLEETWAY_URL or FLEETWAY_API_KEY counts as unset, as every setting does", async () => {
    // The default address, http://127.0.0.1:8080 (whether or not a service answers there): the
    // blank text was taken for the base URL, and every request's URL failed to parse.
    const blankUrl = await fleetway(["fleet"], {
      env: { FLEETWAY_URL: " ", FLEETWAY_API_KEY: "k".repeat(20) },
    });
    assert.doesNotMatch(blankUrl.stderr, /parse URL/);

    const blankKey = await fleetway(["fleet"], { env: { FLEETWAY_API_KEY: "  " } });
    assert.equal(blankKey.code, 2);
    assert.match(blankKey.stderr, /No API key: pass --api-key or set FLEETWAY_API_KEY/);
  });
});
