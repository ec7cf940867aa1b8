import { Worker } from "bullmq";
import { closeOrDisconnect } from "../queue/close-or-disconnect.js";
import { workerConnection } from "../queue/redis-connections.js";
import { attemptDelivery, type DeliveryDeps } from "./deliver-webhook.js";
import {
  enqueueDelivery,
  WEBHOOK_QUEUE,
  type WebhookJobData,
  type WebhookQueue,
} from "./webhook-queue.js";

export interface WebhookWorker {
  close(): Promise<void>;
}

/**
 * Delivers webhooks from their own queue with their own concurrency, so receivers that are slow
 * or down never hold up migration workers. Retries are scheduled by Fleetway (delayed entries)
 * rather than BullMQ's attempts, because they follow the delivery's schedule and Retry-After.
 */
export function startWebhookWorker(
  deps: DeliveryDeps,
  queue: WebhookQueue,
  settings: { redisUrl: string; prefix: string; concurrency: number },
): WebhookWorker {
  const worker = new Worker<WebhookJobData>(
    WEBHOOK_QUEUE,
    async (job) => {
      const outcome = await attemptDelivery(deps, job.data.deliveryId, job.data.attempt);
      if (outcome.kind === "retry")
        await enqueueDelivery(queue, job.data.deliveryId, outcome.attempt, outcome.delayMs);
    },
    {
      connection: workerConnection(settings.redisUrl),
      prefix: settings.prefix,
      concurrency: settings.concurrency,
    },
  );
  worker.on("error", (error) => {
    deps.logger.error({ err: error }, "webhook worker error");
  });
  return {
    async close() {
      // A delivery in flight ends within its own timeout; past that, Redis is what holds the close.
      if (!(await closeOrDisconnect(worker, deps.timeoutMs + 2_000))) {
        deps.logger.warn("the webhook worker did not close in time (Redis down?); disconnected");
      }
    },
  };
}
