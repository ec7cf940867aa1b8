/**
 * `npm run openapi`: writes openapi/openapi.json from the routes' schemas. Builds the app against
 * the configured Redis and control database URL without querying either (nothing is migrated or
 * changed), so the document is exactly what the running service serves at /docs/json.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { FastifyInstance } from "fastify";
import { loadConfig } from "../config/load-config.js";
import { createControlPool } from "../control/control-db.js";
import { createSecretBox } from "../control/secret-box.js";
import { loadMigrations } from "../engine/load-migrations.js";
import { createMigrationQueue } from "../jobs/migration-queue.js";
import { provisionLimits } from "../jobs/provision-tenant.js";
import { JobEventPublisher } from "../webhooks/job-event-publisher.js";
import { parseAllowList } from "../webhooks/ssrf-guard.js";
import { createWebhookQueue } from "../webhooks/webhook-queue.js";
import { JobEndListener } from "../control/job-end-listener.js";
import { buildApp } from "./build-app.js";
import { createLogger } from "./logger.js";
import { createServiceMetrics } from "./metrics.js";

export const OPENAPI_PATH = resolve(
  dirname(new URL(import.meta.url).pathname),
  "../../openapi/openapi.json",
);

/** The OpenAPI document of an app, serialized the way it is committed. */
export async function renderOpenApi(app: FastifyInstance): Promise<string> {
  await app.ready();
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}

/**
 * Builds the app from the default configuration (only the Redis URL is taken from `env`, to
 * reach Redis) and renders its document, so the output never depends on local settings.
 */
export async function buildOpenApiDocument(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const config = loadConfig({
    LOG_LEVEL: "silent",
    ...(env.REDIS_URL === undefined ? {} : { REDIS_URL: env.REDIS_URL }),
  });
  const pool = createControlPool(config.controlDatabaseUrl, 1);
  const queue = createMigrationQueue({
    redisUrl: config.redisUrl,
    prefix: config.queuePrefix,
    attempts: 1,
  });
  queue.on("error", () => undefined);
  const webhookQueue = createWebhookQueue(config.redisUrl, config.queuePrefix);
  webhookQueue.on("error", () => undefined);
  const logger = createLogger(config);
  try {
    const app = await buildApp({
      pool,
      migrations: await loadMigrations(config.migrationsDir),
      queue,
      secretBox: createSecretBox(config.encryptionKey),
      logger,
      apiKeys: config.apiKeys,
      bodyLimit: config.http.bodyLimit,
      rateLimitPerMinute: config.http.rateLimitPerMinute,
      metricsRegistry: createServiceMetrics(pool, queue).registry,
      events: new JobEventPublisher(webhookQueue, logger),
      // Never started: rendering the document opens no connection.
      jobEnds: new JobEndListener(config.controlDatabaseUrl, logger),
      webhookQueue,
      webhookPolicy: parseAllowList(config.webhooks.allow),
      webhookRotationGraceMs: config.webhooks.rotationGraceMs,
      provisionAdminUrl: null,
      // Never provisions: the limits only complete the dependencies.
      provisionLimits: provisionLimits(),
    });
    const document = await renderOpenApi(app);
    await app.close();
    return document;
  } finally {
    await queue.close();
    await webhookQueue.close();
    await pool.end();
  }
}

async function main(): Promise<void> {
  const document = await buildOpenApiDocument();
  await mkdir(dirname(OPENAPI_PATH), { recursive: true });
  await writeFile(OPENAPI_PATH, document);
  process.stdout.write(`wrote ${OPENAPI_PATH}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
