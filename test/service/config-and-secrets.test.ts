/** Configuration from the environment, sealed connection strings, and log redaction. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/config/config-error.js";
import { CONFIG_SETTINGS } from "../../src/config/config-settings.js";
import { loadConfig, parseApiKeys } from "../../src/config/load-config.js";
import { createSecretBox } from "../../src/control/secret-box.js";
import { createLogger } from "../../src/http/logger.js";

const configError = (env: NodeJS.ProcessEnv, setting: string, message: RegExp): void => {
  assert.throws(
    () => loadConfig(env, "/srv"),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.setting, setting);
      assert.match(error.message, message);
      assert.ok(!error.message.includes("\n"), "one line");
      return true;
    },
  );
};

describe("configuration", () => {
  it("has working defaults outside production, with warnings for the development keys", () => {
    const config = loadConfig({}, "/srv");
    assert.equal(config.http.port, 8080);
    assert.equal(config.controlDatabaseUrl, "postgres://localhost:5432/fleetway");
    assert.equal(config.redisUrl, "redis://127.0.0.1:6379");
    assert.equal(config.migrationsDir, "/srv/migrations");
    assert.equal(config.encryptionKey.length, 32);
    assert.deepEqual(config.apiKeys, [{ name: "dev", scope: "admin", secret: "fleetway-dev-key" }]);
    assert.equal(config.warnings.length, 3);
    assert.ok(
      Object.isFrozen(config) && Object.isFrozen(config.worker) && Object.isFrozen(config.apiKeys),
    );
  });

  it("stops on a malformed setting with one line naming it", () => {
    configError(
      { FLEETWAY_WORKER_CONCURRENCY: "abc" },
      "FLEETWAY_WORKER_CONCURRENCY",
      /FLEETWAY_WORKER_CONCURRENCY must be an integer between 1 and 256 \(got "abc"\)/,
    );
    configError(
      { FLEETWAY_WORKER_CONCURRENCY: "0" },
      "FLEETWAY_WORKER_CONCURRENCY",
      /between 1 and 256/,
    );
    configError({ PORT: "http" }, "PORT", /PORT must be a port number/);
    configError({ REDIS_URL: "localhost:6379" }, "REDIS_URL", /redis:\/\//);
    configError({ CONTROL_DATABASE_URL: "mysql://x" }, "CONTROL_DATABASE_URL", /postgres:\/\//);
    configError({ LOG_LEVEL: "loud" }, "LOG_LEVEL", /LOG_LEVEL must be fatal, error/);
    configError({ FLEETWAY_ENCRYPTION_KEY: "short" }, "FLEETWAY_ENCRYPTION_KEY", /32 bytes/);
  });

  it("requires the encryption key and API keys in production", () => {
    configError(
      { NODE_ENV: "production", FLEETWAY_API_KEYS: "ci:write:0123456789abcdef" },
      "FLEETWAY_ENCRYPTION_KEY",
      /required in production/,
    );
    configError(
      { NODE_ENV: "production", FLEETWAY_ENCRYPTION_KEY: "ab".repeat(32) },
      "FLEETWAY_API_KEYS",
      /required in production/,
    );
    const config = loadConfig({
      NODE_ENV: "production",
      FLEETWAY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString("base64"),
      FLEETWAY_API_KEYS: "ci:write:0123456789abcdef",
      FLEETWAY_CALLBACK_SECRET: `whsec_${Buffer.alloc(32, 9).toString("base64")}`,
    });
    assert.deepEqual(config.warnings, []);
    assert.deepEqual(config.encryptionKey, Buffer.alloc(32, 7));
  });

  it("parses API keys and refuses bad ones", () => {
    assert.deepEqual(parseApiKeys("ci:write:0123456789abcdef, ops:admin:with:colons:in:it!"), [
      { name: "ci", scope: "write", secret: "0123456789abcdef" },
      { name: "ops", scope: "admin", secret: "with:colons:in:it!" },
    ]);
    assert.throws(() => parseApiKeys("ci:root:0123456789abcdef"), /scope 'root'/);
    assert.throws(() => parseApiKeys("ci:read:short"), /at least 16/);
    assert.throws(
      () => parseApiKeys("ci:read:0123456789abcdef,ci:write:fedcba9876543210"),
      /used twice/,
    );
    assert.throws(() => parseApiKeys("a:read:0123456789abcdef,b:write:0123456789abcdef"), /reuses/);
  });

  it("src/config/README.md documents every setting with its default", async () => {
    const readme = await readFile(new URL("../../src/config/README.md", import.meta.url), "utf8");
    for (const setting of CONFIG_SETTINGS) {
      const row = readme.split("\n").find((line) => line.startsWith(`| \`${setting.env}\``));
      assert.ok(row, `${setting.env} is documented`);
      if (setting.default !== undefined)
        assert.ok(row.includes(`\`${setting.default}\``), `${setting.env} default`);
    }
  });
});

describe("secret box", () => {
  const box = createSecretBox(Buffer.alloc(32, 1));
  const url = "postgres://app:s3cret@db:5432/tenant";

  it("round-trips with a fresh IV every time", () => {
    const a = box.encrypt(url);
    const b = box.encrypt(url);
    assert.notEqual(a, b);
    assert.ok(!a.includes("s3cret"));
    assert.equal(box.decrypt(a), url);
  });

  it("detects tampering and a wrong key without echoing the value", () => {
    const sealed = box.encrypt(url);
    const parts = sealed.split(".");
    const flipped = Buffer.from(parts[2] ?? "", "base64url");
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    parts[2] = flipped.toString("base64url");
    assert.throws(() => box.decrypt(parts.join(".")), /wrong FLEETWAY_ENCRYPTION_KEY or tampered/);
    assert.throws(
      () => createSecretBox(Buffer.alloc(32, 2)).decrypt(sealed),
      (e: Error) => !e.message.includes("s3cret"),
    );
    assert.throws(() => box.decrypt("plain text"), /unknown format/);
  });
});

describe("log redaction", () => {
  it("censors connection strings, passwords and authorization headers at any usual depth", () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ logLevel: "info" }, sink);
    logger.info({ databaseUrl: "postgres://a:LEAK1@h/d" }, "top");
    logger.info({ tenant: { databaseUrl: "postgres://a:LEAK2@h/d" } }, "nested");
    logger.info({ job: { tenant: { connectionString: "postgres://a:LEAK3@h/d" } } }, "deeper");
    logger.info({ req: { headers: { authorization: "Bearer LEAK4" } } }, "header");
    logger.info({ body: { password: "LEAK5", secret: "LEAK6" } }, "body");
    assert.equal(lines.length, 5);
    for (const line of lines) assert.doesNotMatch(line, /LEAK/);
    assert.match(lines[0] ?? "", /\[redacted\]/);
  });
});
