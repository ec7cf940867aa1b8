/**
 * `tenants add --schema` defaults to public, the API's default, and says so: FLEETWAY_SCHEMA is
 * the schema of the local verbs' database (with DATABASE_URL), not a default for registered tenants.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { fleetway } from "../support/cli-harness.js";

describe("tenants add --schema", () => {
  let server: Server;
  let url: string;
  const bodies: { schema?: unknown }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      let text = "";
      req.on("data", (chunk: Buffer) => (text += chunk.toString()));
      req.on("end", () => {
        bodies.push(JSON.parse(text) as { schema?: unknown });
        res.writeHead(201, { "content-type": "application/json" });
        res.end(JSON.stringify({ tenant: { id: "acme" }, job: null }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const add = (args: string[] = []) =>
    fleetway(["tenants", "add", "--id", "acme", "--database-url", "postgres://db/acme", ...args], {
      env: {
        FLEETWAY_URL: url,
        FLEETWAY_API_KEY: "k".repeat(20),
        FLEETWAY_SCHEMA: "local_schema",
        DATABASE_URL: "postgres://db/local",
      },
    });

  it("registers the tenant in public unless --schema says otherwise, whatever FLEETWAY_SCHEMA is", async () => {
    bodies.length = 0;
    assert.equal((await add()).code, 0);
    assert.equal((await add(["--schema", "acme"])).code, 0);
    assert.deepEqual(
      bodies.map((b) => b.schema),
      ["public", "acme"],
    );
  });

  it("--help says what the default is and that FLEETWAY_SCHEMA is not read", async () => {
    const help = await fleetway(["tenants", "add", "--help"]);
    const text = help.stdout.replace(/\s+/g, " ");
    assert.match(text, /--schema <schema> schema holding the tenant's tables and version table/);
    assert.match(text, /the API's default \(FLEETWAY_SCHEMA is not read/);
    assert.match(text, /\(default: "public"\)/);
  });
});
