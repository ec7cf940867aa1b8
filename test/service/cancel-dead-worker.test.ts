/**
 * Cancelling a running job whose worker died: the cancel request must not pass for a sign of
 * life of that worker, or the reconciler never puts the job back for a worker to cancel it.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { getJob } from "../../src/control/job-store.js";
import { cancelJob } from "../../src/jobs/cancel-job.js";
import { createMigrationQueue, type MigrationQueue } from "../../src/jobs/migration-queue.js";
import { reconcileOnce } from "../../src/jobs/reconciler.js";
import { JobEventPublisher } from "../../src/webhooks/job-event-publisher.js";
import { createWebhookQueue, type WebhookQueue } from "../../src/webhooks/webhook-queue.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";
import { REDIS_URL } from "../support/service-harness.js";

const silent = pino({ level: "silent" });
const STALE_MS = 30_000;

describe("cancelling a running job whose worker died", () => {
  let control: ControlTestDatabase;
  let queue: MigrationQueue;
  let webhookQueue: WebhookQueue;

  before(async () => {
    control = await createControlTestDatabase();
    const prefix = `{fleetway-test-${randomBytes(4).toString("hex")}}`;
    queue = createMigrationQueue({ redisUrl: REDIS_URL, prefix, attempts: 3 });
    webhookQueue = createWebhookQueue(REDIS_URL, prefix);
    await queue.waitUntilReady();
    await webhookQueue.waitUntilReady();
  });
  after(async () => {
    await queue.obliterate({ force: true });
    await webhookQueue.obliterate({ force: true });
    await queue.close();
    await webhookQueue.close();
    await control.drop();
  });

  it("leaves its heartbeat stale, so the reconciler re-queues it and it ends cancelled", async () => {
    const jobId = await control.queuedJob();
    // Claimed a minute ago by a worker that has not been heard from since (killed).
    await control.pool.query(
      `UPDATE jobs SET state = 'running', phase = 'migrating', worker_id = 'dead-worker',
              attempts = 1, started_at = now() - interval '1 minute',
              heartbeat_at = now() - interval '1 minute'
        WHERE id = $1`,
      [jobId],
    );
    const outcome = await cancelJob(
      { pool: control.pool, events: new JobEventPublisher(null, silent), queue },
      jobId,
      { name: "ops" },
    );
    assert.equal(outcome.kind, "requested");
    const job = await getJob(control.pool, jobId);
    assert.ok(job?.heartbeatAt !== null && job?.heartbeatAt !== undefined);
    assert.ok(
      Date.now() - job.heartbeatAt.getTime() >= STALE_MS,
      `the cancel request refreshed the dead worker's heartbeat (${job.heartbeatAt.toISOString()})`,
    );
    const requeued = await reconcileOnce(
      control.pool,
      queue,
      webhookQueue,
      { intervalMs: 15_000, staleMs: STALE_MS, retentionDays: 30 },
      silent,
    );
    assert.deepEqual(requeued, [jobId], "the reconciler sees the job's worker is gone");
  });
});
