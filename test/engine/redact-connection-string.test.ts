/** Fleetway's one way of showing a connection string: the password never, the rest when safe. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connectionStringProblem } from "../../src/engine/connection-string-form.js";
import { redactConnectionString } from "../../src/engine/redact-connection-string.js";

describe("redactConnectionString", () => {
  it("replaces the password and keeps the rest", () => {
    assert.equal(
      redactConnectionString("postgres://app:s3cret-pw@db.internal:5432/tenant_a"),
      "postgres://app:***@db.internal:5432/tenant_a",
    );
    assert.equal(
      redactConnectionString("postgresql://app:p%40ss@db/t?sslmode=require"),
      "postgresql://app:***@db/t?sslmode=require",
    );
    assert.equal(redactConnectionString("redis://:pw@cache:6379/0"), "redis://:***@cache:6379/0");
  });

  it("masks password-like query parameters and leaves URLs without secrets as they are", () => {
    assert.equal(
      redactConnectionString("postgres://app:pw@db:5432/t?sslpassword=x&sslmode=require"),
      "postgres://app:***@db:5432/t?sslpassword=***&sslmode=require",
    );
    assert.equal(
      redactConnectionString("postgres://app@db/t?password=pw&sslmode=require"),
      "postgres://app@db/t?password=***&sslmode=require",
    );
    assert.equal(redactConnectionString("postgres://db:5432/t"), "postgres://db:5432/t");
  });

  it("shows nothing of a string that is not a scheme:// URL", () => {
    for (const text of [
      "",
      "not a url",
      "host=db user=app password=pw dbname=t",
      // Parses as a URL of scheme "app:" (or "postgres:") with an empty password: it was echoed
      // whole, password included.
      "app:pw@db:5432/t",
      "postgres:app:pw@db/t",
      "postgres://app:pw@db:notaport/t",
      // A password of digits then an unescaped / ? #: read as host `app`, port 2024, no password.
      "postgres://app:2024/Zq@db/t",
      "postgres://app:1234#x@db/t",
      "postgres://app:99?x=1@db/t",
    ]) {
      assert.equal(redactConnectionString(text), "<connection string>", text);
    }
  });

  it("connectionStringProblem refuses what would be read with its password past the host", () => {
    for (const text of ["postgres://app:2024/Zq@db/t", "postgresql://app:1234#x@db/t"]) {
      assert.match(connectionStringProblem(text) ?? "", /percent-encode/, text);
    }
    for (const text of [
      "postgres://app:pw@db:5432/t",
      "postgres://app@/t?host=/var/run/postgresql",
      "postgres://db/t?sslmode=require",
    ]) {
      assert.equal(connectionStringProblem(text), null, text);
    }
  });
});
