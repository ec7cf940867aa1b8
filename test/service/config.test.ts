/** Configuration from the environment: defaults, one-line errors, production rules, freezing. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/config/config-error.js";
import { CONFIG_SETTINGS } from "../../src/config/config-settings.js";
import { loadConfig, parseApiKeys } from "../../src/config/load-config.js";

const HEX_KEY = "ab".repeat(32);
const CALLBACK_SECRET = `whsec_${Buffer.alloc(32, 9).toString("base64")}`;
const PRODUCTION = {
  NODE_ENV: "production",
  FLEETWAY_ENCRYPTION_KEY: HEX_KEY,
  FLEETWAY_API_KEYS: "ci:write:0123456789abcdef",
  FLEETWAY_CALLBACK_SECRET: CALLBACK_SECRET,
};

/** Asserts loadConfig(env) stops with a one-line ConfigError about `setting`; returns the message. */
function configError(env: NodeJS.ProcessEnv, setting: string, message?: RegExp): string {
  let text = "";
  assert.throws(
    () => loadConfig(env, "/srv"),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `ConfigError for ${JSON.stringify(env)}`);
      assert.equal(error.setting, setting);
      assert.ok(error.message.startsWith(setting), `names ${setting}: ${error.message}`);
      assert.ok(!error.message.includes("\n"), "one line");
      if (message) assert.match(error.message, message);
      text = error.message;
      return true;
    },
  );
  return text;
}

describe("configuration defaults", () => {
  it("works out of the box outside production, saying which development keys it uses", () => {
    const config = loadConfig({}, "/srv");
    assert.equal(config.production, false);
    assert.deepEqual(config.http, {
      port: 8080,
      host: "127.0.0.1",
      bodyLimit: 1_048_576,
      rateLimitPerMinute: 1200,
    });
    assert.equal(config.controlDatabaseUrl, "postgres://localhost:5432/fleetway");
    assert.equal(config.redisUrl, "redis://127.0.0.1:6379");
    assert.equal(config.migrationsDir, "/srv/migrations");
    assert.deepEqual(config.worker, {
      concurrency: 4,
      metricsPort: null,
      tenantConnectionIdleMs: 10_000,
      attempts: 5,
      backoffMs: 1000,
      backoffMaxMs: 60_000,
    });
    assert.deepEqual(config.migration, {
      lockTimeoutMs: 10_000,
      statementTimeoutMs: 0,
      lockTimeoutRetries: 5,
      advisoryLockTimeoutMs: 30_000,
      versionTable: "fleetway_version",
    });
    assert.equal(config.shutdownGraceMs, 30_000);
    assert.deepEqual(config.reconciler, {
      intervalMs: 15_000,
      heartbeatMs: 1000,
      staleMs: 30_000,
      retentionDays: 30,
    });
    assert.equal(config.queuePrefix, "{fleetway}");
    assert.equal(config.logLevel, "info");
    assert.deepEqual(
      config.encryptionKey,
      createHash("sha256").update("fleetway-development-key").digest(),
    );
    assert.deepEqual(config.apiKeys, [{ name: "dev", scope: "admin", secret: "fleetway-dev-key" }]);
    for (const setting of ["FLEETWAY_ENCRYPTION_KEY", "FLEETWAY_API_KEYS"]) {
      assert.ok(
        config.warnings.some((w) => w.startsWith(setting)),
        `a warning about ${setting}`,
      );
    }
  });

  it("treats empty and blank values as unset, and trims the rest", () => {
    const config = loadConfig({ PORT: "", HOST: "  ", FLEETWAY_WORKER_CONCURRENCY: " 8 " });
    assert.equal(config.http.port, 8080);
    assert.equal(config.http.host, "127.0.0.1");
    assert.equal(config.worker.concurrency, 8);
  });

  it("resolves the migrations directory against the working directory", () => {
    assert.equal(
      loadConfig({ FLEETWAY_MIGRATIONS_DIR: "db/m" }, "/srv").migrationsDir,
      "/srv/db/m",
    );
    assert.equal(loadConfig({ FLEETWAY_MIGRATIONS_DIR: "/opt/m" }, "/srv").migrationsDir, "/opt/m");
  });

  it("is deeply frozen", () => {
    const config = loadConfig({}, "/srv");
    assert.throws(() => {
      (config as { logLevel: string }).logLevel = "debug";
    }, TypeError);
    assert.throws(() => {
      (config.worker as { concurrency: number }).concurrency = 99;
    }, TypeError);
    assert.throws(() => {
      (config.apiKeys as unknown[]).push({});
    }, TypeError);
    assert.ok(Object.isFrozen(config.apiKeys[0]) && Object.isFrozen(config.webhooks.allow));
  });

  it("reads every documented setting into the result", () => {
    const config = loadConfig(
      {
        PORT: "9000",
        HOST: "0.0.0.0",
        CONTROL_DATABASE_URL: "postgresql://fw:pw@control:5433/fw",
        REDIS_URL: "rediss://:pw@cache:6380",
        FLEETWAY_WORKER_CONCURRENCY: "16",
        FLEETWAY_WORKER_METRICS_PORT: "9464",
        FLEETWAY_TENANT_CONNECTION_IDLE_MS: "0",
        FLEETWAY_JOB_ATTEMPTS: "7",
        FLEETWAY_JOB_BACKOFF_MS: "250",
        FLEETWAY_JOB_BACKOFF_MAX_MS: "9000",
        FLEETWAY_LOCK_TIMEOUT_MS: "2000",
        FLEETWAY_STATEMENT_TIMEOUT_MS: "600000",
        FLEETWAY_LOCK_TIMEOUT_RETRIES: "0",
        FLEETWAY_ADVISORY_LOCK_TIMEOUT_MS: "5000",
        FLEETWAY_VERSION_TABLE: "alembic_version",
        FLEETWAY_SHUTDOWN_GRACE_MS: "1000",
        FLEETWAY_RECONCILE_INTERVAL_MS: "500",
        FLEETWAY_JOB_HEARTBEAT_MS: "2000",
        FLEETWAY_JOB_STALE_MS: "60000",
        FLEETWAY_RETENTION_DAYS: "0",
        FLEETWAY_BODY_LIMIT_BYTES: "4096",
        FLEETWAY_RATE_LIMIT_PER_MINUTE: "0",
        FLEETWAY_QUEUE_PREFIX: "{fw-test}",
        LOG_LEVEL: "debug",
      },
      "/srv",
    );
    assert.deepEqual(
      [config.http.port, config.http.host, config.http.bodyLimit, config.http.rateLimitPerMinute],
      [9000, "0.0.0.0", 4096, 0],
    );
    assert.equal(config.controlDatabaseUrl, "postgresql://fw:pw@control:5433/fw");
    assert.equal(config.redisUrl, "rediss://:pw@cache:6380");
    assert.deepEqual(config.worker, {
      concurrency: 16,
      metricsPort: 9464,
      tenantConnectionIdleMs: 0,
      attempts: 7,
      backoffMs: 250,
      backoffMaxMs: 9000,
    });
    assert.deepEqual(config.migration, {
      lockTimeoutMs: 2000,
      statementTimeoutMs: 600_000,
      lockTimeoutRetries: 0,
      advisoryLockTimeoutMs: 5000,
      versionTable: "alembic_version",
    });
    assert.equal(config.shutdownGraceMs, 1000);
    assert.deepEqual(config.reconciler, {
      intervalMs: 500,
      heartbeatMs: 2000,
      staleMs: 60_000,
      retentionDays: 0,
    });
    assert.equal(config.queuePrefix, "{fw-test}");
    assert.equal(config.logLevel, "debug");
  });
});

describe("configuration errors", () => {
  it("names the setting and what it must be, in one line", () => {
    configError(
      { FLEETWAY_WORKER_CONCURRENCY: "abc" },
      "FLEETWAY_WORKER_CONCURRENCY",
      /^FLEETWAY_WORKER_CONCURRENCY must be an integer between 1 and 256 \(got "abc"\)$/,
    );
    configError({ FLEETWAY_WORKER_CONCURRENCY: "257" }, "FLEETWAY_WORKER_CONCURRENCY");
    configError({ FLEETWAY_JOB_ATTEMPTS: "0" }, "FLEETWAY_JOB_ATTEMPTS", /between 1 and 100/);
    configError({ PORT: "http" }, "PORT", /PORT must be a port number \(got "http"\)/);
    configError({ PORT: "70000" }, "PORT");
    configError({ FLEETWAY_JOB_BACKOFF_MS: "-1" }, "FLEETWAY_JOB_BACKOFF_MS", /milliseconds/);
    configError({ FLEETWAY_BODY_LIMIT_BYTES: "10" }, "FLEETWAY_BODY_LIMIT_BYTES");
    configError({ REDIS_URL: "memcached://cache" }, "REDIS_URL", /redis:\/\/ or rediss:\/\//);
    configError({ CONTROL_DATABASE_URL: "mysql://x/db" }, "CONTROL_DATABASE_URL", /postgres:\/\//);
    configError({ LOG_LEVEL: "loud" }, "LOG_LEVEL", /LOG_LEVEL must be fatal, error, warn/);
    // Whole days: a retention under the 24 h an Idempotency-Key replays could delete the job a
    // replayed response names.
    for (const days of ["0.5", "-1"]) {
      configError(
        { FLEETWAY_RETENTION_DAYS: days },
        "FLEETWAY_RETENTION_DAYS",
        /must be a whole number of days, 0 to keep everything/,
      );
    }
  });

  it("refuses numbers that are not plain integers instead of rounding or reinterpreting them", () => {
    for (const text of ["5.5", "1e2", "0x10", "true", "Infinity", "12abc", "1_000"]) {
      configError(
        { FLEETWAY_WORKER_CONCURRENCY: text },
        "FLEETWAY_WORKER_CONCURRENCY",
        new RegExp(`got "${text}"`),
      );
    }
  });

  it("gives every integer setting a one-line error naming it", () => {
    for (const setting of CONFIG_SETTINGS.filter((s) => /^\d+$/.test(s.default ?? ""))) {
      configError({ [setting.env]: "abc" }, setting.env, /must be .*\(got "abc"\)$/);
    }
  });

  it("never echoes a secret, and shows URLs with the password masked", () => {
    const badKey = "secret-material-but-not-32-bytes";
    const keyMessage = configError({ FLEETWAY_ENCRYPTION_KEY: badKey }, "FLEETWAY_ENCRYPTION_KEY");
    assert.match(keyMessage, /32 bytes as 64 hex characters or base64/);
    assert.doesNotMatch(keyMessage, /secret-material/);
    const callback = configError(
      { FLEETWAY_CALLBACK_SECRET: "hunter2hunter2" },
      "FLEETWAY_CALLBACK_SECRET",
    );
    assert.doesNotMatch(callback, /hunter2/);
    const url = configError(
      { CONTROL_DATABASE_URL: "mysql://app:pw-LEAK@db/x" },
      "CONTROL_DATABASE_URL",
      /got "mysql:\/\/app:\*\*\*@db\/x"/,
    );
    assert.doesNotMatch(url, /LEAK/);
    const unparseable = configError(
      { CONTROL_DATABASE_URL: "postgres://app:pw-LEAK@db:port/x" },
      "CONTROL_DATABASE_URL",
    );
    assert.doesNotMatch(unparseable, /LEAK/);
    const redis = configError({ REDIS_URL: "app:pw-LEAK@cache:6379" }, "REDIS_URL");
    assert.doesNotMatch(redis, /LEAK/);
  });

  it("checks settings that only make sense together", () => {
    configError(
      { FLEETWAY_JOB_HEARTBEAT_MS: "10000", FLEETWAY_JOB_STALE_MS: "20000" },
      "FLEETWAY_JOB_STALE_MS",
      /at least 3 times FLEETWAY_JOB_HEARTBEAT_MS/,
    );
    configError(
      { FLEETWAY_JOB_BACKOFF_MS: "5000", FLEETWAY_JOB_BACKOFF_MAX_MS: "1000" },
      "FLEETWAY_JOB_BACKOFF_MAX_MS",
      /must not be below FLEETWAY_JOB_BACKOFF_MS/,
    );
  });
});

describe("production", () => {
  it("requires the encryption key, the API keys and the callback secret", () => {
    configError(
      { ...PRODUCTION, FLEETWAY_ENCRYPTION_KEY: undefined },
      "FLEETWAY_ENCRYPTION_KEY",
      /required in production/,
    );
    configError(
      { ...PRODUCTION, FLEETWAY_API_KEYS: undefined },
      "FLEETWAY_API_KEYS",
      /required in production/,
    );
    configError({ ...PRODUCTION, FLEETWAY_API_KEYS: " " }, "FLEETWAY_API_KEYS", /required/);
    configError(
      { ...PRODUCTION, FLEETWAY_CALLBACK_SECRET: undefined },
      "FLEETWAY_CALLBACK_SECRET",
      /required in production/,
    );
  });

  it("starts without warnings when everything is given", () => {
    const config = loadConfig(PRODUCTION, "/srv");
    assert.equal(config.production, true);
    assert.deepEqual(config.warnings, []);
    assert.deepEqual(config.apiKeys, [{ name: "ci", scope: "write", secret: "0123456789abcdef" }]);
  });
});

describe("FLEETWAY_ENCRYPTION_KEY", () => {
  const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 + 3));
  const key = (text: string): Buffer =>
    loadConfig({ FLEETWAY_ENCRYPTION_KEY: text }, "/srv").encryptionKey;

  it("takes 64 hex characters or base64 (padded, unpadded, url-safe) of 32 bytes", () => {
    assert.deepEqual(key(bytes.toString("hex")), bytes);
    assert.deepEqual(key(bytes.toString("hex").toUpperCase()), bytes);
    assert.deepEqual(key(bytes.toString("base64")), bytes);
    assert.deepEqual(key(bytes.toString("base64").replace(/=+$/, "")), bytes);
    assert.deepEqual(key(bytes.toString("base64url")), bytes);
    assert.equal(
      loadConfig({ FLEETWAY_ENCRYPTION_KEY: HEX_KEY }, "/srv").warnings.some((w) =>
        w.startsWith("FLEETWAY_ENCRYPTION_KEY"),
      ),
      false,
    );
  });

  it("refuses other lengths and alphabets", () => {
    for (const text of [
      "ab".repeat(31),
      "ab".repeat(33),
      Buffer.alloc(16).toString("base64"),
      Buffer.alloc(48, 0xff).toString("base64"), // 64 characters, but not hex
      "zz".repeat(32),
    ]) {
      configError({ FLEETWAY_ENCRYPTION_KEY: text }, "FLEETWAY_ENCRYPTION_KEY", /32 bytes/);
    }
  });
});

describe("FLEETWAY_API_KEYS", () => {
  it("parses name:scope:secret entries; the secret may contain colons", () => {
    assert.deepEqual(
      parseApiKeys(
        "ci:write:0123456789abcdef, ops.team-1:admin:with:colons:in:it!,ro:read:r".concat(
          "x".repeat(15),
        ),
      ),
      [
        { name: "ci", scope: "write", secret: "0123456789abcdef" },
        { name: "ops.team-1", scope: "admin", secret: "with:colons:in:it!" },
        { name: "ro", scope: "read", secret: `r${"x".repeat(15)}` },
      ],
    );
    const config = loadConfig({ FLEETWAY_API_KEYS: "ci:read:0123456789abcdef" }, "/srv");
    assert.deepEqual(config.apiKeys, [{ name: "ci", scope: "read", secret: "0123456789abcdef" }]);
    assert.ok(!config.warnings.some((w) => w.startsWith("FLEETWAY_API_KEYS")));
  });

  it("refuses bad entries with the setting's name and the entry's position", () => {
    const refuses = (text: string, message: RegExp): string =>
      configError({ FLEETWAY_API_KEYS: text }, "FLEETWAY_API_KEYS", message);
    refuses(
      "ci:root:0123456789abcdef",
      /entry 1 \('ci'\) has scope 'root'; use read, write or admin/,
    );
    refuses("ci:read:short", /entry 1 \('ci'\) needs a secret of at least 16 characters/);
    refuses("c i:read:0123456789abcdef", /entry 1 needs a name of letters, digits/);
    refuses("ci:read:0123456789abcdef,", /entry 2 is not of the form name:scope:secret/);
    refuses("ci:read:0123456789abcdef,ci:write:fedcba9876543210", /entry 2 .*'ci'.* used twice/);
    refuses("a:read:0123456789abcdef,b:write:0123456789abcdef", /entry 2 \('b'\) reuses/);
  });

  it("does not show text that may be a secret", () => {
    for (const text of [
      "tok3nWithoutAnyColons0123456789",
      "ci:tok3n-that:was-meant-as-the-secret",
      "ci:Xq9zTQ4mLw8vBn2k:rest-of-it",
    ]) {
      const message = configError({ FLEETWAY_API_KEYS: text }, "FLEETWAY_API_KEYS");
      assert.doesNotMatch(message, /tok3n|Xq9z/);
    }
  });
});

describe("src/config/README.md", () => {
  it("documents every setting with its default", async () => {
    const readme = await readFile(new URL("../../src/config/README.md", import.meta.url), "utf8");
    for (const setting of CONFIG_SETTINGS) {
      const row = readme.split("\n").find((line) => line.startsWith(`| \`${setting.env}\``));
      assert.ok(row, `${setting.env} is documented`);
      assert.ok(row.includes(setting.description), `${setting.env} description`);
      if (setting.default !== undefined)
        assert.ok(row.includes(`\`${setting.default}\``), `${setting.env} default`);
    }
  });
});
