import type pg from "pg";
import type { Logger } from "pino";
import type { JobRecord } from "../control/job-record.js";
import { listActiveJobs, requeueJob } from "../control/job-store.js";
import {
  overdueDeliveries,
  type DeliveryRecord,
  type OverdueCursor,
} from "../control/delivery-store.js";
import { deleteExpiredIdempotencyKeys } from "../control/idempotency-store.js";
import { attemptJobId, enqueueDelivery, type WebhookQueue } from "../webhooks/webhook-queue.js";
import { enqueueMigrationJob, type MigrationQueue } from "./migration-queue.js";
import { pruneExpired } from "./prune-expired.js";

export interface ReconcilerSettings {
  readonly intervalMs: number;
  /** A running job whose heartbeat is older than this has lost its worker. */
  readonly staleMs: number;
  /**
   * Finished jobs and rollouts are deleted this many days after they ended
   * (FLEETWAY_RETENTION_DAYS); 0 keeps them for ever.
   */
  readonly retentionDays: number;
}

/** BullMQ states in which the queue will still run the job by itself. */
const LIVE_STATES = new Set(["waiting", "active", "delayed", "prioritized", "waiting-children"]);

/**
 * Makes Redis agree with the control database, which is the source of truth: every job the
 * database holds as queued or running must be in the queue. After a Redis flush or restart, or
 * when a job's BullMQ entry ended while the database still calls it active (a worker died
 * between the two writes), the job is put back. Enqueueing under the job's own id makes running
 * this from several instances at once harmless. It also deletes expired Idempotency-Keys.
 * (Finished jobs and rollouts past their retention are pruned by {@link startReconciler}.)
 *
 * @returns the ids it re-enqueued
 */
export async function reconcileOnce(
  pool: pg.Pool,
  queue: MigrationQueue,
  webhookQueue: WebhookQueue,
  settings: ReconcilerSettings,
  logger: Logger,
  now: () => number = Date.now,
): Promise<string[]> {
  const requeued: string[] = [];
  for await (const page of activeJobPages(pool)) {
    // A page's queue states in one go (ioredis pipelines them), not a round trip per job.
    const states = await Promise.all(page.map((job) => queue.getJobState(job.id)));
    for (const [index, job] of page.entries()) {
      const state = states[index] ?? "unknown";
      if (LIVE_STATES.has(state)) {
        // "active" with a stale heartbeat is BullMQ's to recover (stalled-job check); leave it.
        continue;
      }
      const heartbeat = job.heartbeatAt?.getTime() ?? 0;
      if (job.state === "running" && now() - heartbeat < settings.staleMs) continue;
      if (state === "completed" || state === "failed") await queue.remove(job.id).catch(() => 0);
      if (job.state === "running") await requeueJob(pool, job.id, null);
      await enqueueMigrationJob(queue, job.id);
      requeued.push(job.id);
    }
  }
  if (requeued.length > 0) {
    logger.warn({ jobIds: requeued }, "re-enqueued jobs missing from the queue");
  }
  // Deliveries: a pending delivery overdue by more than an interval whose attempt is not queued.
  const deliveries: string[] = [];
  for await (const page of overdueDeliveryPages(pool, settings.intervalMs)) {
    // A page's queue states in one go, as for jobs above.
    const states = await Promise.all(
      page.map((d) => webhookQueue.getJobState(attemptJobId(d.id, d.attempts + 1))),
    );
    for (const [index, delivery] of page.entries()) {
      const attempt = delivery.attempts + 1;
      const state = states[index] ?? "unknown";
      if (LIVE_STATES.has(state)) continue;
      if (state === "completed" || state === "failed") {
        await webhookQueue.remove(attemptJobId(delivery.id, attempt)).catch(() => 0);
      }
      await enqueueDelivery(webhookQueue, delivery.id, attempt);
      deliveries.push(delivery.id);
    }
  }
  if (deliveries.length > 0) {
    logger.warn(
      { deliveryIds: deliveries },
      "re-enqueued webhook deliveries missing from the queue",
    );
  }
  // Nothing else bounds the table; a key past its retention is claimable anew already.
  const expiredKeys = await deleteExpiredIdempotencyKeys(pool);
  if (expiredKeys > 0) logger.debug({ count: expiredKeys }, "deleted expired idempotency keys");
  return requeued;
}

/** Active jobs the reconciler checks per query. */
const ACTIVE_JOBS_PAGE = 1000;

/**
 * Every active job, a page at a time: after a Redis flush all of them must be put back in one
 * pass, not only the oldest page (the rest would wait for those to end).
 */
async function* activeJobPages(pool: pg.Pool): AsyncGenerator<JobRecord[]> {
  let afterSeq = 0;
  for (;;) {
    const page = await listActiveJobs(pool, { limit: ACTIVE_JOBS_PAGE, afterSeq });
    if (page.length > 0) yield page;
    const last = page.at(-1);
    if (last === undefined || page.length < ACTIVE_JOBS_PAGE) return;
    afterSeq = last.seq;
  }
}

/** Overdue webhook deliveries the reconciler checks per query. */
const OVERDUE_DELIVERIES_PAGE = 1000;

/**
 * Every overdue delivery, a page at a time: after a Redis flush all of them must be put back in
 * one pass, not only the most overdue page (the rest would wait until those were attempted).
 */
async function* overdueDeliveryPages(
  pool: pg.Pool,
  olderThanMs: number,
): AsyncGenerator<DeliveryRecord[]> {
  let after: OverdueCursor | null = null;
  do {
    const page = await overdueDeliveries(pool, olderThanMs, {
      limit: OVERDUE_DELIVERIES_PAGE,
      after,
    });
    if (page.deliveries.length > 0) yield page.deliveries;
    after = page.next;
  } while (after !== null);
}

/**
 * How often a process prunes finished jobs and rollouts past their retention when the last round
 * left nothing behind. Each round reads once past the jobs it keeps (each tenant's latest, at
 * least), which grows with the fleet: every reconciler pass would be too often for a large one.
 */
const PRUNE_EVERY_MS = 5 * 60_000;

/**
 * Runs {@link reconcileOnce} now and then every interval until stopped; prunes what is past its
 * retention on the first pass, then every {@link PRUNE_EVERY_MS} (every pass while a backlog
 * remains).
 */
export function startReconciler(
  pool: pg.Pool,
  queue: MigrationQueue,
  webhookQueue: WebhookQueue,
  settings: ReconcilerSettings,
  logger: Logger,
): { stop(): Promise<void> } {
  let running: Promise<unknown> | null = null;
  let nextPruneAt = 0;
  const pass = async (): Promise<void> => {
    await reconcileOnce(pool, queue, webhookQueue, settings, logger).catch((error: unknown) => {
      logger.warn({ err: error }, "reconciler pass failed");
    });
    if (Date.now() < nextPruneAt) return;
    const { more } = await pruneExpired(pool, settings.retentionDays, logger).catch(
      (error: unknown) => {
        logger.warn({ err: error }, "pruning finished jobs and rollouts failed");
        return { more: false };
      },
    );
    nextPruneAt = more ? 0 : Date.now() + PRUNE_EVERY_MS;
  };
  const tick = (): void => {
    // One pass at a time: while the control database or Redis does not answer, a pass per
    // interval would queue up behind the first and then all run together.
    if (running !== null) return;
    running = pass().finally(() => {
      running = null;
    });
  };
  tick();
  const timer = setInterval(tick, settings.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      if (running !== null) await running;
    },
  };
}
