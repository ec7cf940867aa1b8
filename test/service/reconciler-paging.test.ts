/**
 * The reconciler checks every active job and every overdue webhook delivery, not only the oldest
 * thousand: after a Redis flush with more than that, the rest were re-enqueued only as the first
 * ones ended, one pass (15 s) at a time.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { createMigrationQueue, type MigrationQueue } from "../../src/jobs/migration-queue.js";
import { reconcileOnce } from "../../src/jobs/reconciler.js";
import { createWebhookQueue, type WebhookQueue } from "../../src/webhooks/webhook-queue.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";
import { REDIS_URL } from "../support/service-harness.js";

describe("the reconciler after Redis lost a large queue", () => {
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

  it("re-enqueues every queued job in one pass", async () => {
    // 1,050 tenants with a queued job each, none of them in Redis (as after FLUSHALL).
    await control.pool.query(
      `INSERT INTO tenants (id, name, database_url_sealed, database_url_masked, schema_name)
       SELECT 't' || i, 't' || i, 'sealed', 'postgres://db/t', 't' || i
         FROM generate_series(1, 1050) i`,
    );
    await control.pool.query(
      `INSERT INTO jobs (id, tenant_id, operation, target, transaction_mode, state)
       SELECT gen_random_uuid(), 't' || i, 'upgrade', 'head', 'per-revision', 'queued'
         FROM generate_series(1, 1050) i`,
    );
    const requeued = await reconcileOnce(
      control.pool,
      queue,
      webhookQueue,
      { intervalMs: 15_000, staleMs: 30_000, retentionDays: 30 },
      pino({ level: "silent" }),
    );
    assert.equal(requeued.length, 1050);
    assert.equal(new Set(requeued).size, 1050);
    assert.equal(await queue.count(), 1050);
  });

  it("re-enqueues every overdue webhook delivery in one pass", async () => {
    // 1,050 pending deliveries overdue by an hour, none of them in Redis. One statement gives
    // them all the same next_attempt_at, to the microsecond, as one event's deliveries have.
    await control.pool.query(
      `INSERT INTO webhook_deliveries (id, url_sealed, url_masked, message_id, event_type, payload,
                                       state, next_attempt_at)
       SELECT gen_random_uuid(), 'sealed', 'http://hooks.example', 'msg_' || i, 'job.succeeded',
              '{}', 'pending', now() - interval '1 hour'
         FROM generate_series(1, 1050) i`,
    );
    await reconcileOnce(
      control.pool,
      queue,
      webhookQueue,
      { intervalMs: 15_000, staleMs: 30_000, retentionDays: 30 },
      pino({ level: "silent" }),
    );
    assert.equal(await webhookQueue.count(), 1050);
  });
});
