/**
 * The reconciler runs one pass at a time. On a timer regardless of the pass before, passes
 * piled up while the control database did not answer (each waiting for the pool) and then ran
 * together.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, it } from "node:test";
import type pg from "pg";
import { pino } from "pino";
import { startReconciler } from "../../src/jobs/reconciler.js";
import type { MigrationQueue } from "../../src/jobs/migration-queue.js";
import type { WebhookQueue } from "../../src/webhooks/webhook-queue.js";

describe("the reconciler", () => {
  it("starts no pass while the one before has not finished", async () => {
    let statements = 0;
    const gate: { open?: () => void } = {};
    const answered = new Promise<void>((resolve) => {
      gate.open = resolve;
    });
    // A control database that takes every statement and answers none until told to.
    const pool = {
      query: async () => {
        statements += 1;
        await answered;
        return { rows: [], rowCount: 0 };
      },
    } as unknown as pg.Pool;
    const reconciler = startReconciler(
      pool,
      null as unknown as MigrationQueue, // never reached: the first statement waits
      null as unknown as WebhookQueue,
      { intervalMs: 10, staleMs: 1000, retentionDays: 0 },
      pino({ level: "silent" }),
    );
    await sleep(200);
    const whileWaiting = statements;
    gate.open?.();
    await reconciler.stop();
    assert.equal(whileWaiting, 1);
  });
});
