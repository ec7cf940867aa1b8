import { createHash } from "node:crypto";
import { resolve } from "node:path";
import type { ApiKeyEntry, Scope } from "../http/plugins/api-key-auth.js";
import { parseRetrySchedule } from "../webhooks/retry-schedule.js";
import { parseAllowList } from "../webhooks/ssrf-guard.js";
import { ConfigError } from "./config-error.js";
import { CONFIG_SETTINGS } from "./config-settings.js";
import { parseApiKeys } from "./parse-api-keys.js";
import { readSetting } from "./read-setting.js";

export type { ApiKeyEntry as ApiKey, Scope };
export { parseApiKeys };

/** The service's configuration: read from the environment once, validated, frozen. */
export interface Config {
  readonly production: boolean;
  readonly http: {
    readonly port: number;
    readonly host: string;
    readonly bodyLimit: number;
    readonly rateLimitPerMinute: number;
  };
  readonly controlDatabaseUrl: string;
  /** Named prepared statements on the control database (off behind transaction poolers). */
  readonly controlPreparedStatements: boolean;
  readonly redisUrl: string;
  readonly migrationsDir: string;
  readonly encryptionKey: Buffer;
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly worker: {
    readonly concurrency: number;
    /** Where `fleetway worker` serves /metrics; null: nowhere. */
    readonly metricsPort: number | null;
    /** 0: a new tenant connection per job. */
    readonly tenantConnectionIdleMs: number;
    readonly attempts: number;
    readonly backoffMs: number;
    readonly backoffMaxMs: number;
  };
  readonly migration: {
    readonly lockTimeoutMs: number;
    readonly statementTimeoutMs: number;
    readonly lockTimeoutRetries: number;
    readonly advisoryLockTimeoutMs: number;
    /** The version table in each tenant's schema (`alembic_version` adopts an Alembic fleet). */
    readonly versionTable: string;
  };
  /** Time limit of the reads of a tenant database behind status, history and plan; 0 = none. */
  readonly tenantReadTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly reconciler: {
    readonly intervalMs: number;
    readonly heartbeatMs: number;
    readonly staleMs: number;
    /** Days finished jobs and rollouts are kept; 0: for ever. */
    readonly retentionDays: number;
  };
  readonly queuePrefix: string;
  readonly rolloutTickMs: number;
  /** Null when provisioning is disabled. */
  readonly provisionAdminUrl: string | null;
  readonly webhooks: {
    readonly callbackSecret: string;
    readonly allow: readonly string[];
    readonly timeoutMs: number;
    readonly retryScheduleMs: readonly number[];
    readonly concurrency: number;
    readonly rotationGraceMs: number;
  };
  readonly logLevel: string;
  /** Start-up warnings (development defaults in use), to be logged. */
  readonly warnings: readonly string[];
}

export const DEVELOPMENT_API_KEY = "fleetway-dev-key";

/**
 * Reads every setting of {@link CONFIG_SETTINGS} from `env`.
 * @throws ConfigError with one line naming the setting and what is wrong
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const raw = new Map<string, unknown>();
  for (const setting of CONFIG_SETTINGS) {
    const value = readSetting(setting, env);
    if (value !== undefined) raw.set(setting.env, value);
  }
  const num = (name: string): number => raw.get(name) as number;
  const str = (name: string): string => raw.get(name) as string;
  checkRelations(num);
  const production = str("NODE_ENV") === "production";
  const warnings: string[] = [];

  let encryptionKey: Buffer;
  if (raw.has("FLEETWAY_ENCRYPTION_KEY")) {
    encryptionKey = parseKey(str("FLEETWAY_ENCRYPTION_KEY"));
  } else if (production) {
    throw new ConfigError(
      "FLEETWAY_ENCRYPTION_KEY",
      "FLEETWAY_ENCRYPTION_KEY is required in production (32 bytes as 64 hex characters or base64)",
    );
  } else {
    encryptionKey = createHash("sha256").update("fleetway-development-key").digest();
    warnings.push(
      "FLEETWAY_ENCRYPTION_KEY is not set: using the fixed development key (never do this in production)",
    );
  }

  let apiKeys: ApiKeyEntry[];
  if (raw.has("FLEETWAY_API_KEYS")) {
    apiKeys = parseApiKeys(str("FLEETWAY_API_KEYS"));
  } else if (production) {
    throw new ConfigError(
      "FLEETWAY_API_KEYS",
      "FLEETWAY_API_KEYS is required in production (name:scope:secret,...)",
    );
  } else {
    apiKeys = [{ name: "dev", scope: "admin", secret: DEVELOPMENT_API_KEY }];
    warnings.push(
      `FLEETWAY_API_KEYS is not set: the development key '${DEVELOPMENT_API_KEY}' (admin) is accepted`,
    );
  }

  let callbackSecret: string;
  if (raw.has("FLEETWAY_CALLBACK_SECRET")) {
    callbackSecret = str("FLEETWAY_CALLBACK_SECRET");
  } else if (production) {
    throw new ConfigError(
      "FLEETWAY_CALLBACK_SECRET",
      "FLEETWAY_CALLBACK_SECRET is required in production (whsec_ + base64 of 24 to 64 random bytes)",
    );
  } else {
    callbackSecret = `whsec_${createHash("sha256").update("fleetway-development-callback-secret").digest("base64")}`;
    warnings.push(
      "FLEETWAY_CALLBACK_SECRET is not set: job callbacks are signed with a fixed development secret",
    );
  }

  return deepFreeze({
    production,
    http: {
      port: num("PORT"),
      host: str("HOST"),
      bodyLimit: num("FLEETWAY_BODY_LIMIT_BYTES"),
      rateLimitPerMinute: num("FLEETWAY_RATE_LIMIT_PER_MINUTE"),
    },
    controlDatabaseUrl: str("CONTROL_DATABASE_URL"),
    controlPreparedStatements: str("FLEETWAY_CONTROL_PREPARED_STATEMENTS") === "true",
    redisUrl: str("REDIS_URL"),
    migrationsDir: resolve(cwd, str("FLEETWAY_MIGRATIONS_DIR")),
    encryptionKey,
    apiKeys,
    worker: {
      concurrency: num("FLEETWAY_WORKER_CONCURRENCY"),
      metricsPort: optionalPort(
        "FLEETWAY_WORKER_METRICS_PORT",
        str("FLEETWAY_WORKER_METRICS_PORT"),
      ),
      tenantConnectionIdleMs: num("FLEETWAY_TENANT_CONNECTION_IDLE_MS"),
      attempts: num("FLEETWAY_JOB_ATTEMPTS"),
      backoffMs: num("FLEETWAY_JOB_BACKOFF_MS"),
      backoffMaxMs: num("FLEETWAY_JOB_BACKOFF_MAX_MS"),
    },
    migration: {
      lockTimeoutMs: num("FLEETWAY_LOCK_TIMEOUT_MS"),
      statementTimeoutMs: num("FLEETWAY_STATEMENT_TIMEOUT_MS"),
      lockTimeoutRetries: num("FLEETWAY_LOCK_TIMEOUT_RETRIES"),
      advisoryLockTimeoutMs: num("FLEETWAY_ADVISORY_LOCK_TIMEOUT_MS"),
      versionTable: str("FLEETWAY_VERSION_TABLE"),
    },
    tenantReadTimeoutMs: num("FLEETWAY_TENANT_READ_TIMEOUT_MS"),
    shutdownGraceMs: num("FLEETWAY_SHUTDOWN_GRACE_MS"),
    reconciler: {
      intervalMs: num("FLEETWAY_RECONCILE_INTERVAL_MS"),
      heartbeatMs: num("FLEETWAY_JOB_HEARTBEAT_MS"),
      staleMs: num("FLEETWAY_JOB_STALE_MS"),
      retentionDays: num("FLEETWAY_RETENTION_DAYS"),
    },
    queuePrefix: str("FLEETWAY_QUEUE_PREFIX"),
    rolloutTickMs: num("FLEETWAY_ROLLOUT_TICK_MS"),
    provisionAdminUrl:
      str("FLEETWAY_PROVISION_ADMIN_URL") === "" ? null : str("FLEETWAY_PROVISION_ADMIN_URL"),
    webhooks: {
      callbackSecret,
      allow: webhookAllowList(str("FLEETWAY_WEBHOOK_ALLOW")),
      timeoutMs: num("FLEETWAY_WEBHOOK_TIMEOUT_MS"),
      retryScheduleMs: parseRetrySchedule(str("FLEETWAY_WEBHOOK_RETRY_SCHEDULE")),
      concurrency: num("FLEETWAY_WEBHOOK_CONCURRENCY"),
      rotationGraceMs: num("FLEETWAY_WEBHOOK_ROTATION_GRACE_MS"),
    },
    logLevel: str("LOG_LEVEL"),
    warnings,
  });
}

function parseKey(text: string): Buffer {
  const key = /^[0-9a-fA-F]{64}$/.test(text)
    ? Buffer.from(text, "hex")
    : Buffer.from(text, "base64");
  if (key.length !== 32) {
    throw new ConfigError(
      "FLEETWAY_ENCRYPTION_KEY",
      "FLEETWAY_ENCRYPTION_KEY must decode to exactly 32 bytes",
    );
  }
  return key;
}

/**
 * Settings that are each valid but wrong together. A heartbeat as slow as the stale limit would
 * make the reconciler re-run jobs that are alive; a backoff cap below its base is a typo.
 */
function checkRelations(num: (name: string) => number): void {
  const heartbeat = num("FLEETWAY_JOB_HEARTBEAT_MS");
  const stale = num("FLEETWAY_JOB_STALE_MS");
  if (stale < 3 * heartbeat) {
    throw new ConfigError(
      "FLEETWAY_JOB_STALE_MS",
      `FLEETWAY_JOB_STALE_MS must be at least 3 times FLEETWAY_JOB_HEARTBEAT_MS (got ${stale} with a heartbeat of ${heartbeat})`,
    );
  }
  const base = num("FLEETWAY_JOB_BACKOFF_MS");
  const cap = num("FLEETWAY_JOB_BACKOFF_MAX_MS");
  if (cap < base) {
    throw new ConfigError(
      "FLEETWAY_JOB_BACKOFF_MAX_MS",
      `FLEETWAY_JOB_BACKOFF_MAX_MS must not be below FLEETWAY_JOB_BACKOFF_MS (got ${cap} < ${base})`,
    );
  }
}

/** An optional port setting: empty is none; 0 is any free port, as PORT=0 is. */
function optionalPort(name: string, text: string): number | null {
  if (text === "") return null;
  const port = Number(text);
  if (port > 65535)
    throw new ConfigError(
      name,
      `${name} must be a port number, or empty (got ${JSON.stringify(text)})`,
    );
  return port;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Buffer.isBuffer(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** FLEETWAY_WEBHOOK_ALLOW's entries, refused at start-up when one would not parse as the guard reads it. */
function webhookAllowList(text: string): string[] {
  const entries = text
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  try {
    parseAllowList(entries);
  } catch (error) {
    throw new ConfigError(
      "FLEETWAY_WEBHOOK_ALLOW",
      `FLEETWAY_WEBHOOK_ALLOW: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return entries;
}
