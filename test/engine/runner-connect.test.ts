/** Connection settings: a URL without a user connects as the OS user, like psql. */
import assert from "node:assert/strict";
import { userInfo } from "node:os";
import { after, before, describe, it } from "node:test";
import { pgConnectionConfig } from "../../src/engine/runner/connect.js";

describe("connection settings", () => {
  const saved = { USER: process.env.USER, PGUSER: process.env.PGUSER };
  before(() => {
    // Service managers and containers often run without $USER: what broke `npm start` here.
    process.env.USER = "";
    delete process.env.PGUSER;
  });
  after(() => {
    if (saved.USER === undefined) delete process.env.USER;
    else process.env.USER = saved.USER;
    if (saved.PGUSER === undefined) delete process.env.PGUSER;
    else process.env.PGUSER = saved.PGUSER;
  });

  it("puts the OS user into a URL that has none", () => {
    const config = pgConnectionConfig("postgres://localhost:5432/fleetway", "x");
    assert.equal(
      config.connectionString,
      `postgres://${userInfo().username}@localhost:5432/fleetway`,
    );
  });

  it("keeps an explicit user, and leaves non-URL strings to pg", () => {
    assert.equal(
      pgConnectionConfig("postgres://app:pw@db/t", "x").connectionString,
      "postgres://app:pw@db/t",
    );
    assert.equal(pgConnectionConfig("host=db user=app", "x").connectionString, "host=db user=app");
  });

  it("PGUSER wins when set, as in libpq", () => {
    process.env.PGUSER = "someone";
    assert.equal(
      pgConnectionConfig("postgres://localhost/db", "x").connectionString,
      "postgres://localhost/db",
    );
    delete process.env.PGUSER;
  });
});
