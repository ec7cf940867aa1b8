/**
 * A real Fleetway service for tests: its own control database, a Redis queue prefix of its own
 * (so test files never see each other's jobs), API keys of each scope, captured log lines.
 */
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { Redis } from "ioredis";
import { createLogger } from "../../src/http/logger.js";
import supertest from "supertest";
import { loadConfig, type Config } from "../../src/config/load-config.js";
import {
  startService,
  type RunningService,
  type ServiceMode,
} from "../../src/service/start-service.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

export const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

export const KEYS = {
  read: "test-read-key-0123456789",
  write: "test-write-key-0123456789",
  admin: "test-admin-key-0123456789",
} as const;

export interface TestService {
  readonly service: RunningService;
  readonly config: Config;
  readonly controlDb: TestDatabase;
  /** Every log line the service wrote, as JSON text. */
  readonly logs: string[];
  /** supertest against the listening API. */
  http(): supertest.Agent;
  /** Authorization header value for a scope. */
  auth(scope: keyof typeof KEYS): string;
  /** Stops the service and drops its control database and queue keys. */
  close(): Promise<void>;
}

export interface TestServiceOptions {
  readonly migrationsDir?: string;
  readonly mode?: ServiceMode;
  /** Extra or overriding environment settings. */
  readonly env?: Record<string, string>;
  /** Reuse a control database (and queue prefix) instead of creating them. */
  readonly controlDb?: TestDatabase;
  readonly queuePrefix?: string;
}

export function testQueuePrefix(): string {
  return `{fleetway-test-${randomBytes(4).toString("hex")}}`;
}

export function serviceEnv(
  controlDbUrl: string,
  queuePrefix: string,
  options: TestServiceOptions = {},
): Record<string, string> {
  return {
    PORT: "0",
    HOST: "127.0.0.1",
    CONTROL_DATABASE_URL: controlDbUrl,
    REDIS_URL,
    FLEETWAY_MIGRATIONS_DIR:
      options.migrationsDir ?? new URL("../../migrations", import.meta.url).pathname,
    FLEETWAY_ENCRYPTION_KEY: "a".repeat(64),
    FLEETWAY_API_KEYS: `reader:read:${KEYS.read},writer:write:${KEYS.write},admin:admin:${KEYS.admin}`,
    FLEETWAY_QUEUE_PREFIX: queuePrefix,
    FLEETWAY_WORKER_CONCURRENCY: "4",
    FLEETWAY_JOB_ATTEMPTS: "3",
    FLEETWAY_JOB_BACKOFF_MS: "100",
    FLEETWAY_JOB_BACKOFF_MAX_MS: "500",
    FLEETWAY_ADVISORY_LOCK_TIMEOUT_MS: "2000",
    FLEETWAY_RECONCILE_INTERVAL_MS: "500",
    FLEETWAY_JOB_HEARTBEAT_MS: "200",
    FLEETWAY_JOB_STALE_MS: "3000",
    FLEETWAY_SHUTDOWN_GRACE_MS: "2000",
    FLEETWAY_RATE_LIMIT_PER_MINUTE: "0",
    LOG_LEVEL: "info",
    ...options.env,
  };
}

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const controlDb = options.controlDb ?? (await createTestDatabase());
  const prefix = options.queuePrefix ?? testQueuePrefix();
  const config = loadConfig(serviceEnv(controlDb.url, prefix, options));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(
        ...chunk
          .toString("utf8")
          .split("\n")
          .filter((l) => l !== ""),
      );
      done();
    },
  });
  const logger = createLogger({ logLevel: "info" }, sink);
  const service = await startService(config, options.mode ?? "serve", logger);
  return {
    service,
    config,
    controlDb,
    logs,
    http: () => supertest.agent(service.url ?? "http://127.0.0.1:1"),
    auth: (scope) => `Bearer ${KEYS[scope]}`,
    async close() {
      await service.stop();
      if (options.queuePrefix === undefined) await deleteQueueKeys(prefix);
      if (options.controlDb === undefined) await controlDb.drop();
    },
  };
}

/** Deletes every Redis key of one queue prefix: what a Redis flush does, to this test only. */
export async function deleteQueueKeys(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    let deleted = 0;
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== "0");
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/** Polls GET /v1/jobs/{id} until the job is finished (or the timeout passes). */
export async function waitForJob(
  test: TestService,
  jobId: string,
  timeoutMs = 30_000,
): Promise<Record<string, unknown> & { state: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await test
      .http()
      .get(`/v1/jobs/${jobId}`)
      .set("authorization", test.auth("read"));
    const job = response.body as Record<string, unknown> & { state: string };
    if (["succeeded", "failed", "cancelled"].includes(job.state)) return job;
    if (Date.now() > deadline)
      throw new Error(`job ${jobId} still ${job.state} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
