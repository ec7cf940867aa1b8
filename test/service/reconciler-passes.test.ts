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
import { createControlTestDatabase } from "../support/control-database.js";

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

  it("prunes what is past its retention on its first pass, not on every pass", async () => {
    // Each round reads past every job it keeps (a tenant's latest, at least): with a large
    // fleet, a round per pass in every process cost seconds every 15 s.
    const control = await createControlTestDatabase();
    try {
      let prunes = 0;
      const pool = new Proxy(control.pool, {
        get: (target, property, receiver): unknown => {
          if (property !== "query") return Reflect.get(target, property, receiver);
          return (text: string, values?: unknown[]) => {
            // Retention's jobs statement: the only one of a pass that deletes jobs.
            if (/\bDELETE FROM jobs\b/.test(text)) prunes += 1;
            return target.query(text, values);
          };
        },
      });
      const reconciler = startReconciler(
        pool,
        null as unknown as MigrationQueue, // no active job or delivery: never reached
        null as unknown as WebhookQueue,
        { intervalMs: 10, staleMs: 1000, retentionDays: 30 },
        pino({ level: "silent" }),
      );
      await sleep(300);
      await reconciler.stop();
      assert.equal(prunes, 1);
    } finally {
      await control.drop();
    }
  });
});
