import { Worker, type Job } from "bullmq";
import { backoffDelay } from "../engine/runner/backoff.js";
import { closeOrDisconnect } from "../queue/close-or-disconnect.js";
import { workerConnection } from "../queue/redis-connections.js";
import { createPooledConnections } from "../engine/runner/tenant-connections.js";
import { MIGRATION_QUEUE, type MigrationJobData } from "./migration-queue.js";
import { runJobAttempt, type RunJobDeps } from "./run-job.js";

export interface WorkerSettings {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly concurrency: number;
  /** Base and cap of the exponential backoff between attempts of a transient failure. */
  readonly backoffMs: number;
  readonly backoffMaxMs: number;
  /** A job whose worker stops renewing its lock for this long is considered stalled and re-run. */
  readonly staleMs: number;
  /** How long an idle tenant connection is kept for the next job; 0: a new one per job. */
  readonly tenantConnectionIdleMs: number;
  readonly random?: () => number;
}

export interface MigrationWorker {
  /** Stops taking jobs, lets running ones finish for `graceMs`, then interrupts them safely. */
  close(graceMs: number): Promise<void>;
  readonly worker: Worker<MigrationJobData>;
}

/**
 * How long past the grace period a closing worker may take (its interrupted steps roll back, or
 * their connections are dropped) before it is taken to be stuck on Redis and disconnected.
 */
const CLOSE_MARGIN_MS = 10_000;

/** Thrown to BullMQ so it schedules the next attempt; the control database already says why. */
class RetryLater extends Error {}

/**
 * The BullMQ worker that runs migration jobs. BullMQ decides when a job runs (concurrency,
 * retries with our backoff, stalled-job recovery); the control database records what happened.
 */
export function startMigrationWorker(deps: RunJobDeps, settings: WorkerSettings): MigrationWorker {
  const shutdown = new AbortController();
  const random = settings.random ?? Math.random;
  const connections =
    settings.tenantConnectionIdleMs > 0
      ? createPooledConnections({
          maxPerDatabase: settings.concurrency,
          idleMs: settings.tenantConnectionIdleMs,
          maxDatabases: settings.concurrency * 2,
          // At most twice the concurrency open per worker, lent or idle, whatever the layout.
          maxOpen: settings.concurrency * 2,
          applicationName: "fleetway-worker",
        })
      : null;
  const runDeps: RunJobDeps = connections === null ? deps : { ...deps, connections };
  const worker = new Worker<MigrationJobData>(
    MIGRATION_QUEUE,
    async (job: Job<MigrationJobData>) => {
      const attempts = job.opts.attempts ?? 1;
      const isLastAttempt = job.attemptsMade + 1 >= attempts;
      const outcome = await runJobAttempt(runDeps, job.data.jobId, isLastAttempt, shutdown.signal);
      if (outcome.kind === "finished" && outcome.job?.rolloutId != null)
        deps.onJobFinished?.(outcome.job);
      if (outcome.kind === "retry") throw new RetryLater(outcome.error.message);
      if (outcome.kind === "interrupted") throw new RetryLater("interrupted by worker shutdown");
    },
    {
      connection: workerConnection(settings.redisUrl),
      prefix: settings.prefix,
      concurrency: settings.concurrency,
      lockDuration: settings.staleMs,
      stalledInterval: Math.max(1_000, Math.floor(settings.staleMs / 2)),
      // A job a dead worker held is re-run a few times at most; each re-run is idempotent.
      maxStalledCount: 5,
      settings: {
        backoffStrategy: (attemptsMade: number) =>
          backoffDelay(
            { baseMs: settings.backoffMs, maxMs: settings.backoffMaxMs, factor: 2 },
            attemptsMade,
            random,
          ),
      },
    },
  );
  worker.on("error", (error) => {
    deps.logger.error({ err: error }, "migration worker error");
  });
  return {
    worker,
    async close(graceMs) {
      const timer = setTimeout(() => {
        shutdown.abort();
      }, graceMs);
      try {
        if (!(await closeOrDisconnect(worker, graceMs + CLOSE_MARGIN_MS))) {
          deps.logger.warn(
            "the migration worker did not close in time (Redis down?); disconnected",
          );
        }
      } finally {
        clearTimeout(timer);
        await connections?.close();
      }
    },
  };
}
