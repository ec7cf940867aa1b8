import { hostname } from "node:os";
import type { FastifyInstance } from "fastify";
import type pg from "pg";
import type { Logger } from "pino";
import type { Config } from "../config/load-config.js";
import {
  createControlPool,
  ensureControlDatabase,
  migrateControlDatabase,
} from "../control/control-db.js";
import { createSecretBox } from "../control/secret-box.js";
import { ErrorCode, FleetwayError, isFleetwayError } from "../engine/errors.js";
import { loadMigrations } from "../engine/load-migrations.js";
import { JobEndListener } from "../control/job-end-listener.js";
import { buildApp } from "../http/build-app.js";
import { createServiceMetrics, createWorkerMetrics } from "../http/metrics.js";
import { createMigrationQueue, type MigrationQueue } from "../jobs/migration-queue.js";
import { startMigrationWorker, type MigrationWorker } from "../jobs/migration-worker.js";
import { provisionLimits } from "../jobs/provision-tenant.js";
import { startReconciler } from "../jobs/reconciler.js";
import { closeOrDisconnect } from "../queue/close-or-disconnect.js";
import { startRolloutCoordinator } from "../jobs/rollout-coordinator.js";
import { JobEventPublisher } from "../webhooks/job-event-publisher.js";
import { parseAllowList } from "../webhooks/ssrf-guard.js";
import { createWebhookQueue } from "../webhooks/webhook-queue.js";
import { startWebhookWorker } from "../webhooks/webhook-worker.js";
import { checkRedis } from "./check-redis.js";
import { startWorkerMetricsServer, type WorkerMetricsServer } from "./worker-metrics-server.js";

export type ServiceMode = "serve" | "api" | "worker";

/** How long a queue may take to close before its Redis connection is dropped (Redis down). */
const QUEUE_CLOSE_MS = 5_000;

export interface RunningService {
  readonly app: FastifyInstance | null;
  readonly worker: MigrationWorker | null;
  readonly pool: pg.Pool;
  readonly queue: MigrationQueue;
  /** The address the API listens on, e.g. http://127.0.0.1:8080; null without an API. */
  readonly url: string | null;
  /** Where `worker` mode serves /metrics (FLEETWAY_WORKER_METRICS_PORT); null when it does not. */
  readonly metricsUrl: string | null;
  /** Graceful stop: no new requests or jobs, running steps get the grace period, then are interrupted. */
  stop(): Promise<void>;
}

/**
 * The composition root: checks Redis and the control database, migrates the control schema with
 * Fleetway's own engine, loads the tenant migration set, then starts the API, a worker, or both,
 * and the reconciler.
 */
export async function startService(
  config: Config,
  mode: ServiceMode,
  logger: Logger,
): Promise<RunningService> {
  for (const warning of config.warnings) logger.warn(warning);
  await checkRedis(config.redisUrl);
  try {
    await ensureControlDatabase(config.controlDatabaseUrl);
    await migrateControlDatabase(config.controlDatabaseUrl);
  } catch (error) {
    if (isFleetwayError(error, ErrorCode.CONNECTION_FAILED)) {
      throw new FleetwayError(
        ErrorCode.SERVICE_UNAVAILABLE,
        `The control database is unreachable: ${error.message}. Start PostgreSQL ` +
          `(e.g. pg_ctlcluster <version> main start) or set CONTROL_DATABASE_URL`,
        { service: "postgres" },
        { cause: error },
      );
    }
    throw error;
  }
  const migrations = await loadMigrations(config.migrationsDir);
  // Everything started from here on is stopped again if a later step fails (the port is in use):
  // a process that reported its failure must exit, not stay up as a headless worker.
  const started: (() => Promise<unknown>)[] = [];
  try {
    const pool = createControlPool(
      config.controlDatabaseUrl,
      Math.max(10, config.worker.concurrency * 2 + 4),
      { preparedStatements: config.controlPreparedStatements },
    );
    started.push(() => pool.end());
    const queue = createMigrationQueue({
      redisUrl: config.redisUrl,
      prefix: config.queuePrefix,
      attempts: config.worker.attempts,
    });
    queue.on("error", (error) => {
      logger.warn({ err: error }, "queue connection error");
    });
    started.push(() => closeOrDisconnect(queue, QUEUE_CLOSE_MS));
    await queue.waitUntilReady();
    const webhookQueue = createWebhookQueue(config.redisUrl, config.queuePrefix);
    started.push(() => closeOrDisconnect(webhookQueue, QUEUE_CLOSE_MS));
    webhookQueue.on("error", (error) => {
      logger.warn({ err: error }, "webhook queue connection error");
    });
    await webhookQueue.waitUntilReady();
    const events = new JobEventPublisher(webhookQueue, logger.child({ component: "webhooks" }));
    const webhookPolicy = parseAllowList(config.webhooks.allow);
    const secretBox = createSecretBox(config.encryptionKey);
    // A worker's steps are observed in its own process; with the API elsewhere only its own
    // metrics server can report them.
    const metrics = mode === "worker" ? createWorkerMetrics() : createServiceMetrics(pool, queue);
    const workerId = `${hostname()}:${process.pid}`;

    // Bound before anything takes work (jobs, deliveries, rollouts): a port in use must stop
    // start-up before a job is claimed, not after, when stopping again means interrupting it.
    let metricsServer: WorkerMetricsServer | null = null;
    if (mode === "worker" && config.worker.metricsPort !== null) {
      const server = await startWorkerMetricsServer(
        metrics.registry,
        config.http.host,
        config.worker.metricsPort,
      );
      metricsServer = server;
      started.push(() => server.close());
    }

    // Before the worker, which nudges it whenever a rollout's job finishes, and the API, which
    // nudges it when a rollout was created, resumed or retried.
    const coordinator = startRolloutCoordinator(
      { pool, migrations, queue, logger, secretBox, events },
      { tickMs: config.rolloutTickMs },
      logger.child({ component: "rollouts" }),
    );
    started.push(() => coordinator.stop());
    // Listening before the workers start, as the worker's metrics port above: in `serve` a PORT
    // in use must stop start-up before a job is claimed. Requests served meanwhile only queue
    // work, which the workers take once started.
    let app: FastifyInstance | null = null;
    let url: string | null = null;
    const jobEnds = new JobEndListener(
      config.controlDatabaseUrl,
      logger.child({ component: "job-ends" }),
    );
    if (mode !== "worker") {
      app = await buildApp({
        pool,
        migrations,
        queue,
        secretBox,
        logger,
        apiKeys: config.apiKeys,
        bodyLimit: config.http.bodyLimit,
        rateLimitPerMinute: config.http.rateLimitPerMinute,
        metricsRegistry: metrics.registry,
        events,
        jobEnds,
        webhookQueue,
        webhookPolicy,
        webhookRotationGraceMs: config.webhooks.rotationGraceMs,
        provisionAdminUrl: config.provisionAdminUrl,
        // As job steps' (FLEETWAY_LOCK_TIMEOUT_MS): provisioning queues behind the same locks.
        provisionLimits: provisionLimits(config.migration.lockTimeoutMs),
        versionTable: config.migration.versionTable,
        tenantReadTimeoutMs: config.tenantReadTimeoutMs,
        onRolloutRunnable: (rolloutId) => {
          coordinator.nudge(rolloutId);
        },
      });
      const listening = app;
      started.push(() => listening.close());
      url = await app.listen({ port: config.http.port, host: config.http.host });
      // Requests that wait before it listens are woken once it does (JobEndListener).
      jobEnds.start();
      // Stopped before the server closes, as stop() does: held requests answer at once.
      started.push(() => jobEnds.stop());
    }
    const worker =
      mode === "api"
        ? null
        : startMigrationWorker(
            {
              pool,
              migrations,
              secretBox,
              logger: logger.child({ component: "worker" }),
              migration: config.migration,
              heartbeatMs: config.reconciler.heartbeatMs,
              workerId,
              events,
              onJobFinished: (job) => {
                coordinator.nudge(job.rolloutId ?? undefined);
              },
              onStepCommitted: (direction, seconds) => {
                metrics.stepDuration.observe({ direction }, seconds);
              },
            },
            {
              redisUrl: config.redisUrl,
              prefix: config.queuePrefix,
              concurrency: config.worker.concurrency,
              backoffMs: config.worker.backoffMs,
              backoffMaxMs: config.worker.backoffMaxMs,
              staleMs: config.reconciler.staleMs,
              tenantConnectionIdleMs: config.worker.tenantConnectionIdleMs,
            },
          );
    if (worker !== null) started.push(() => worker.close(config.shutdownGraceMs));
    const webhookWorker =
      mode === "api"
        ? null
        : startWebhookWorker(
            {
              pool,
              secretBox,
              logger: logger.child({ component: "webhooks" }),
              policy: webhookPolicy,
              timeoutMs: config.webhooks.timeoutMs,
              schedule: config.webhooks.retryScheduleMs,
              callbackSecret: config.webhooks.callbackSecret,
            },
            webhookQueue,
            {
              redisUrl: config.redisUrl,
              prefix: config.queuePrefix,
              concurrency: config.webhooks.concurrency,
            },
          );
    if (webhookWorker !== null) started.push(() => webhookWorker.close());
    const reconciler = startReconciler(
      pool,
      queue,
      webhookQueue,
      config.reconciler,
      logger.child({ component: "reconciler" }),
    );
    started.push(() => reconciler.stop());

    logger.info(
      {
        mode,
        url,
        metricsUrl: metricsServer?.url ?? null,
        migrations: migrations.graph.size,
        heads: migrations.graph.realHeads,
      },
      "fleetway started",
    );

    let stopping: Promise<void> | null = null;
    return {
      app,
      worker,
      pool,
      queue,
      url,
      metricsUrl: metricsServer?.url ?? null,
      stop() {
        stopping ??= (async () => {
          logger.info("shutting down");
          // Each step is tried whatever the ones before did (Redis or the control database may
          // be down): a process told to stop must let go of everything and exit.
          const steps: [string, () => Promise<unknown>][] = [
            // Requests waiting for a job answer now, so closing the server does not wait for them.
            ["job-end listener", () => jobEnds.stop()],
            ["API", async () => app?.close()],
            // Side by side: with Redis down each waits out its own deadline.
            [
              "workers",
              async () => {
                const closed = await Promise.allSettled([
                  worker?.close(config.shutdownGraceMs),
                  webhookWorker?.close(),
                ]);
                for (const result of closed) if (result.status === "rejected") throw result.reason;
              },
            ],
            ["metrics server", async () => metricsServer?.close()],
            ["rollout coordinator", () => coordinator.stop()],
            ["reconciler", () => reconciler.stop()],
            ["migration queue", () => closeOrDisconnect(queue, QUEUE_CLOSE_MS)],
            ["webhook queue", () => closeOrDisconnect(webhookQueue, QUEUE_CLOSE_MS)],
            ["control pool", () => pool.end()],
          ];
          for (const [what, step] of steps) {
            logger.debug(`stopping the ${what}`);
            await step().catch((error: unknown) => {
              logger.warn({ err: error }, `stopping the ${what} failed`);
            });
          }
          logger.info("stopped");
        })();
        return stopping;
      },
    };
  } catch (error) {
    for (const stop of started.reverse()) {
      await stop().catch((cleanupError: unknown) => {
        logger.warn({ err: cleanupError }, "stopping after a failed start");
      });
    }
    throw error;
  }
}
