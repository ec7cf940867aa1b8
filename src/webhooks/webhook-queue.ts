import { Queue } from "bullmq";
import { producerConnection } from "../queue/redis-connections.js";

/** Webhook deliveries get their own queue so a slow receiver never delays a migration. */
export const WEBHOOK_QUEUE = "webhooks";

export interface WebhookJobData {
  readonly deliveryId: string;
  /** The attempt this entry is for (absent in entries queued before it was recorded). */
  readonly attempt?: number;
}

export type WebhookQueue = Queue<WebhookJobData, unknown>;

export function createWebhookQueue(redisUrl: string, prefix: string): WebhookQueue {
  return new Queue<WebhookJobData, unknown, string>(WEBHOOK_QUEUE, {
    connection: producerConnection(redisUrl),
    prefix,
    defaultJobOptions: { removeOnComplete: true, removeOnFail: { count: 1000 }, attempts: 1 },
  });
}

/**
 * One queue entry per attempt (`<delivery>-<attempt>`), delayed until the attempt is due.
 * Re-adding an entry that is already waiting is a no-op, which keeps the reconciler harmless.
 */
export async function enqueueDelivery(
  queue: WebhookQueue,
  deliveryId: string,
  attempt: number,
  delayMs = 0,
): Promise<void> {
  await queue.add(
    "deliver",
    { deliveryId, attempt },
    { jobId: attemptJobId(deliveryId, attempt), delay: Math.max(0, delayMs) },
  );
}

/**
 * Queues an attempt to run now (a redelivery). An entry with its id may already exist: delayed
 * (a retry scheduled hours away, which a plain add would leave in place), or finished and kept
 * (a failed entry, which would swallow the add). The first is promoted, the second replaced; one
 * already waiting is left to run. One running (in flight) is left to finish: it sees the
 * redelivery the caller counted (resetForRedelivery) when it records itself, and queues the
 * next attempt at once (attemptDelivery), so the receiver gets the redelivery after it, once.
 */
export async function enqueueDeliveryNow(
  queue: WebhookQueue,
  deliveryId: string,
  attempt: number,
): Promise<void> {
  const existing = await queue.getJob(attemptJobId(deliveryId, attempt));
  if (existing !== undefined) {
    const state = await existing.getState();
    if (state === "delayed") {
      // It may have come due between the two calls; then it is waiting, which is what we want.
      await existing.promote().catch(() => undefined);
      return;
    }
    if (state === "completed" || state === "failed") await existing.remove();
    else if (state !== "unknown") return;
  }
  await enqueueDelivery(queue, deliveryId, attempt);
}

export function attemptJobId(deliveryId: string, attempt: number): string {
  return `${deliveryId}-a${attempt}`;
}
