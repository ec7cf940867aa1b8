import { Type, type TSchema } from "typebox";

/** One environment setting: its name, validation schema, default and documentation. */
export interface Setting {
  readonly env: string;
  readonly schema: TSchema;
  /** Shown in errors: what a valid value looks like. */
  readonly expected: string;
  /** Undefined: required in production, development default applied by load-config. */
  readonly default: string | undefined;
  readonly description: string;
  /**
   * How an invalid value may be echoed in the error: `url` values are shown with their password
   * masked, `secret` values not at all (start-up errors end up in logs).
   */
  readonly sensitive?: "url" | "secret";
}

const int = (min: number, max: number) => Type.Integer({ minimum: min, maximum: max });
const ms = (max = 86_400_000) => int(0, max);

/** Every setting Fleetway reads, in the order the README documents them. */
export const CONFIG_SETTINGS: readonly Setting[] = [
  {
    env: "PORT",
    schema: int(0, 65535),
    expected: "a port number",
    default: "8080",
    description: "HTTP port of the API",
  },
  {
    env: "HOST",
    schema: Type.String({ minLength: 1 }),
    expected: "a host or address",
    default: "127.0.0.1",
    description: "Address the API binds to (0.0.0.0 in containers)",
  },
  {
    env: "CONTROL_DATABASE_URL",
    sensitive: "url",
    schema: Type.String({ pattern: "^postgres(ql)?://" }),
    expected: "a postgres:// URL",
    default: "postgres://localhost:5432/fleetway",
    description: "Fleetway's own database; created and migrated at start-up",
  },
  {
    env: "FLEETWAY_CONTROL_PREPARED_STATEMENTS",
    schema: Type.Union([Type.Literal("true"), Type.Literal("false")]),
    expected: "true or false",
    default: "true",
    description:
      "Prepare control-database statements once per connection; false behind a pooler that cannot keep them (PgBouncer in transaction mode before 1.21)",
  },
  {
    env: "REDIS_URL",
    sensitive: "url",
    schema: Type.String({ pattern: "^rediss?://" }),
    expected: "a redis:// or rediss:// URL",
    default: "redis://127.0.0.1:6379",
    description: "Redis for the BullMQ queues",
  },
  {
    env: "FLEETWAY_MIGRATIONS_DIR",
    schema: Type.String({ minLength: 1 }),
    expected: "a directory",
    default: "migrations",
    description: "The tenant migration set the service runs",
  },
  {
    env: "FLEETWAY_VERSION_TABLE",
    schema: Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]{0,62}$" }),
    expected: "a table name (letters, digits, _; at most 63)",
    default: "fleetway_version",
    description:
      "Version table in each tenant's schema; alembic_version adopts a fleet Alembic managed. The advisory lock is keyed by it: the CLI's --version-table must match",
  },
  {
    env: "FLEETWAY_ENCRYPTION_KEY",
    sensitive: "secret",
    schema: Type.String({ pattern: "^([0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)$" }),
    expected: "32 bytes as 64 hex characters or base64",
    default: undefined,
    description:
      "AES-256-GCM key for secrets at rest (connection strings, webhook secrets, idempotent replies). Required in production; a fixed dev key otherwise",
  },
  {
    env: "FLEETWAY_API_KEYS",
    sensitive: "secret",
    schema: Type.String({ minLength: 1 }),
    expected:
      "comma-separated name:scope:secret entries (scope read|write|admin, secret of 16+ characters)",
    default: undefined,
    description:
      "API keys. Required in production; otherwise one development key `fleetway-dev-key` with admin scope",
  },
  {
    env: "FLEETWAY_WORKER_CONCURRENCY",
    schema: int(1, 256),
    expected: "an integer between 1 and 256",
    default: "4",
    description: "Jobs one worker process runs at once",
  },
  {
    env: "FLEETWAY_WORKER_METRICS_PORT",
    schema: Type.String({ pattern: "^([0-9]{1,5})?$" }),
    expected: "a port number, or empty",
    default: "",
    description:
      "Port on HOST where `fleetway worker` serves its Prometheus /metrics (the steps it runs); empty = none. `serve` and `api` serve /metrics on PORT",
  },
  {
    env: "FLEETWAY_TENANT_CONNECTION_IDLE_MS",
    schema: ms(),
    expected: "milliseconds",
    default: "10000",
    description:
      "How long a worker keeps an idle tenant connection for the next job on that database; 0 = a new connection per job",
  },
  {
    env: "FLEETWAY_JOB_ATTEMPTS",
    schema: int(1, 100),
    expected: "an integer between 1 and 100",
    default: "5",
    description: "Attempts of a job that meets transient failures (lock busy, tenant unreachable)",
  },
  {
    env: "FLEETWAY_JOB_BACKOFF_MS",
    schema: ms(),
    expected: "milliseconds",
    default: "1000",
    description: "Base of the exponential backoff between attempts",
  },
  {
    env: "FLEETWAY_JOB_BACKOFF_MAX_MS",
    schema: ms(),
    expected: "milliseconds",
    default: "60000",
    description: "Cap of that backoff; not below FLEETWAY_JOB_BACKOFF_MS",
  },
  {
    env: "FLEETWAY_LOCK_TIMEOUT_MS",
    schema: ms(),
    expected: "milliseconds",
    default: "10000",
    description:
      "lock_timeout of every step (per-job override: lockTimeoutMs) and of provisioning's CREATE/DROP (504 PROVISIONING_TIMEOUT); 0 disables",
  },
  {
    env: "FLEETWAY_STATEMENT_TIMEOUT_MS",
    schema: ms(),
    expected: "milliseconds",
    default: "0",
    description: "statement_timeout of every step (per-job override); 0 = none",
  },
  {
    env: "FLEETWAY_LOCK_TIMEOUT_RETRIES",
    schema: int(0, 100),
    expected: "an integer between 0 and 100",
    default: "5",
    description:
      "Retries of a step that hit its lock_timeout or was chosen as a deadlock's victim (of the whole run in transaction mode `all`)",
  },
  {
    env: "FLEETWAY_ADVISORY_LOCK_TIMEOUT_MS",
    schema: ms(),
    expected: "milliseconds",
    default: "30000",
    description:
      "How long a job waits for the tenant's advisory lock before LOCK_BUSY (then retried)",
  },
  {
    env: "FLEETWAY_TENANT_READ_TIMEOUT_MS",
    schema: ms(),
    expected: "milliseconds",
    default: "5000",
    description:
      "lock_timeout and statement_timeout of the live reads of status, history, plan, CLI `current` (504 TENANT_TIMEOUT past it), not of job steps; 0 = none",
  },
  {
    env: "FLEETWAY_SHUTDOWN_GRACE_MS",
    schema: ms(),
    expected: "milliseconds",
    default: "30000",
    description:
      "On SIGTERM, how long running steps may finish before they are cancelled and re-queued",
  },
  {
    env: "FLEETWAY_RECONCILE_INTERVAL_MS",
    schema: int(100, 86_400_000),
    expected: "milliseconds (100 or more)",
    default: "15000",
    description: "How often the reconciler re-enqueues jobs Redis lost",
  },
  {
    env: "FLEETWAY_RETENTION_DAYS",
    // Whole days, so never under the 24 h an Idempotency-Key replays the response naming a job.
    schema: int(0, 36_500),
    expected: "a whole number of days, 0 to keep everything",
    default: "30",
    description:
      "Days finished jobs (with their events and deliveries) and rollouts are kept, then deleted by the reconciler; a tenant's latest job stays. 0 keeps all",
  },
  {
    env: "FLEETWAY_JOB_HEARTBEAT_MS",
    schema: int(50, 600_000),
    expected: "milliseconds (50 or more)",
    default: "1000",
    description: "How often a running job records a heartbeat and checks for cancellation",
  },
  {
    env: "FLEETWAY_JOB_STALE_MS",
    schema: int(500, 86_400_000),
    expected: "milliseconds (500 or more)",
    default: "30000",
    description:
      "A job whose worker stopped answering for this long is re-run; at least 3 heartbeats",
  },
  {
    env: "FLEETWAY_BODY_LIMIT_BYTES",
    schema: int(1024, 104_857_600),
    expected: "bytes",
    default: "1048576",
    description: "Largest request body accepted",
  },
  {
    env: "FLEETWAY_RATE_LIMIT_PER_MINUTE",
    schema: int(0, 10_000_000),
    expected: "an integer",
    default: "1200",
    description: "Requests per minute per API key on /v1; 0 disables",
  },
  {
    env: "FLEETWAY_QUEUE_PREFIX",
    schema: Type.String({ minLength: 1 }),
    expected: "a key prefix",
    default: "{fleetway}",
    description: "Redis key prefix of the queues (hash-tagged for Redis Cluster)",
  },
  {
    env: "FLEETWAY_CALLBACK_SECRET",
    sensitive: "secret",
    schema: Type.String({ pattern: "^whsec_[A-Za-z0-9+/]{32,88}={0,2}$" }),
    expected: "a Standard Webhooks secret (whsec_ + base64)",
    default: undefined,
    description:
      "Signs job callbacks that bring no secret of their own. Required in production; a fixed development secret otherwise",
  },
  {
    env: "FLEETWAY_WEBHOOK_ALLOW",
    schema: Type.String(),
    expected: "comma-separated hosts, addresses or CIDRs",
    default: "",
    description:
      "Webhook destinations allowed although they resolve to loopback, private or link-local addresses (SSRF guard)",
  },
  {
    env: "FLEETWAY_WEBHOOK_TIMEOUT_MS",
    schema: int(100, 600_000),
    expected: "milliseconds",
    default: "15000",
    description: "Time a receiver has to answer one delivery attempt",
  },
  {
    env: "FLEETWAY_WEBHOOK_RETRY_SCHEDULE",
    schema: Type.String({ pattern: "^\\s*\\d+(ms|s|m|h)?\\s*(,\\s*\\d+(ms|s|m|h)?\\s*)*$" }),
    expected: "comma-separated delays like 0,5s,5m,30m,2h",
    default: "0,5s,5m,30m,2h,5h,10h,10h",
    description:
      "Delay before each delivery attempt (±10 % jitter); the first attempt goes out at once, whatever its entry says; the delivery fails after the last",
  },
  {
    env: "FLEETWAY_WEBHOOK_CONCURRENCY",
    schema: int(1, 1000),
    expected: "an integer between 1 and 1000",
    default: "10",
    description: "Webhook deliveries one process sends at once",
  },
  {
    env: "FLEETWAY_WEBHOOK_ROTATION_GRACE_MS",
    schema: ms(30 * 86_400_000),
    expected: "milliseconds",
    default: "86400000",
    description: "How long a rotated-out subscription secret keeps signing beside the new one",
  },
  {
    env: "FLEETWAY_ROLLOUT_TICK_MS",
    schema: int(20, 60_000),
    expected: "milliseconds (20 or more)",
    default: "1000",
    description:
      "How often running rollouts are advanced besides the nudges (creating, resuming or retrying a rollout and its jobs' ends advance it at once)",
  },
  {
    env: "FLEETWAY_PROVISION_ADMIN_URL",
    sensitive: "url",
    schema: Type.String({ pattern: "^(postgres(ql)?://.*)?$" }),
    expected: "a postgres:// URL",
    default: "",
    description:
      "Connection allowed to create (and drop) tenant databases for `provision`; empty disables provisioning. Direct, not through a transaction pooler (which may run CREATE/DROP DATABASE without their lock_timeout)",
  },
  {
    env: "LOG_LEVEL",
    schema: Type.Union(
      ["fatal", "error", "warn", "info", "debug", "trace", "silent"].map((l) => Type.Literal(l)),
    ),
    expected: "fatal, error, warn, info, debug, trace or silent",
    default: "info",
    description: "pino log level",
  },
  {
    env: "NODE_ENV",
    schema: Type.String(),
    expected: "a string",
    default: "development",
    description: "`production` makes the encryption key and API keys mandatory",
  },
];
