import { createHash } from "node:crypto";
import { resolve } from "node:path";
import { Value } from "typebox/value";
import type { ApiKeyEntry, Scope } from "../http/plugins/api-key-auth.js";
import { parseRetrySchedule } from "../webhooks/retry-schedule.js";
import { ConfigError } from "./config-error.js";
import { CONFIG_SETTINGS } from "./config-settings.js";

export type { ApiKeyEntry as ApiKey, Scope };

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
  readonly redisUrl: string;
  readonly migrationsDir: string;
  readonly encryptionKey: Buffer;
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly worker: {
    readonly concurrency: number;
    readonly attempts: number;
    readonly backoffMs: number;
    readonly backoffMaxMs: number;
  };
  readonly migration: {
    readonly lockTimeoutMs: number;
    readonly statementTimeoutMs: number;
    readonly lockTimeoutRetries: number;
    readonly advisoryLockTimeoutMs: number;
  };
  readonly shutdownGraceMs: number;
  readonly reconciler: {
    readonly intervalMs: number;
    readonly heartbeatMs: number;
    readonly staleMs: number;
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
    const given = env[setting.env];
    const text = given === undefined || given.trim() === "" ? setting.default : given.trim();
    if (text === undefined) continue;
    const value = Value.Convert(setting.schema, text);
    if (!Value.Check(setting.schema, value)) {
      throw new ConfigError(
        setting.env,
        `${setting.env} must be ${setting.expected} (got ${JSON.stringify(text)})`,
      );
    }
    raw.set(setting.env, value);
  }
  const num = (name: string): number => raw.get(name) as number;
  const str = (name: string): string => raw.get(name) as string;
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
    controlDatabaseUrl: validUrl("CONTROL_DATABASE_URL", str("CONTROL_DATABASE_URL")),
    redisUrl: validUrl("REDIS_URL", str("REDIS_URL")),
    migrationsDir: resolve(cwd, str("FLEETWAY_MIGRATIONS_DIR")),
    encryptionKey,
    apiKeys,
    worker: {
      concurrency: num("FLEETWAY_WORKER_CONCURRENCY"),
      attempts: num("FLEETWAY_JOB_ATTEMPTS"),
      backoffMs: num("FLEETWAY_JOB_BACKOFF_MS"),
      backoffMaxMs: num("FLEETWAY_JOB_BACKOFF_MAX_MS"),
    },
    migration: {
      lockTimeoutMs: num("FLEETWAY_LOCK_TIMEOUT_MS"),
      statementTimeoutMs: num("FLEETWAY_STATEMENT_TIMEOUT_MS"),
      lockTimeoutRetries: num("FLEETWAY_LOCK_TIMEOUT_RETRIES"),
      advisoryLockTimeoutMs: num("FLEETWAY_ADVISORY_LOCK_TIMEOUT_MS"),
    },
    shutdownGraceMs: num("FLEETWAY_SHUTDOWN_GRACE_MS"),
    reconciler: {
      intervalMs: num("FLEETWAY_RECONCILE_INTERVAL_MS"),
      heartbeatMs: num("FLEETWAY_JOB_HEARTBEAT_MS"),
      staleMs: num("FLEETWAY_JOB_STALE_MS"),
    },
    queuePrefix: str("FLEETWAY_QUEUE_PREFIX"),
    rolloutTickMs: num("FLEETWAY_ROLLOUT_TICK_MS"),
    provisionAdminUrl:
      str("FLEETWAY_PROVISION_ADMIN_URL") === "" ? null : str("FLEETWAY_PROVISION_ADMIN_URL"),
    webhooks: {
      callbackSecret,
      allow: str("FLEETWAY_WEBHOOK_ALLOW")
        .split(",")
        .map((e) => e.trim())
        .filter((e) => e !== ""),
      timeoutMs: num("FLEETWAY_WEBHOOK_TIMEOUT_MS"),
      retryScheduleMs: parseRetrySchedule(str("FLEETWAY_WEBHOOK_RETRY_SCHEDULE")),
      concurrency: num("FLEETWAY_WEBHOOK_CONCURRENCY"),
      rotationGraceMs: num("FLEETWAY_WEBHOOK_ROTATION_GRACE_MS"),
    },
    logLevel: str("LOG_LEVEL"),
    warnings,
  });
}

function validUrl(setting: string, value: string): string {
  try {
    new URL(value);
    return value;
  } catch {
    throw new ConfigError(setting, `${setting} is not a valid URL`);
  }
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

const SCOPES: readonly Scope[] = ["read", "write", "admin"];

/** `name:scope:secret,...`; the secret may itself contain colons. */
export function parseApiKeys(text: string): ApiKeyEntry[] {
  const keys: ApiKeyEntry[] = [];
  for (const [index, entry] of text
    .split(",")
    .map((e) => e.trim())
    .entries()) {
    const [name = "", scope = "", ...rest] = entry.split(":");
    const secret = rest.join(":");
    const where = `FLEETWAY_API_KEYS entry ${index + 1}`;
    if (!/^[A-Za-z0-9_.-]+$/.test(name))
      throw new ConfigError(
        "FLEETWAY_API_KEYS",
        `${where} needs a name of letters, digits, _ . - (name:scope:secret)`,
      );
    if (!SCOPES.includes(scope as Scope))
      throw new ConfigError(
        "FLEETWAY_API_KEYS",
        `${where} ('${name}') has scope '${scope}'; use read, write or admin`,
      );
    if (secret.length < 16)
      throw new ConfigError(
        "FLEETWAY_API_KEYS",
        `${where} ('${name}') needs a secret of at least 16 characters`,
      );
    if (keys.some((k) => k.name === name))
      throw new ConfigError("FLEETWAY_API_KEYS", `${where}: the name '${name}' is used twice`);
    if (keys.some((k) => k.secret === secret))
      throw new ConfigError(
        "FLEETWAY_API_KEYS",
        `${where} ('${name}') reuses another key's secret`,
      );
    keys.push({ name, scope: scope as Scope, secret });
  }
  return keys;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Buffer.isBuffer(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
