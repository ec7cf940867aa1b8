import type { ConnectionOptions } from "bullmq";

/** For workers: BullMQ requires maxRetriesPerRequest null on the connections it blocks on. */
export function workerConnection(redisUrl: string): ConnectionOptions {
  return { url: redisUrl, maxRetriesPerRequest: null };
}

/**
 * For producers (the API): fail fast instead of buffering commands while Redis is away, so a
 * request never hangs on Redis; the job is in the control database and the reconciler enqueues it.
 */
export function producerConnection(redisUrl: string): ConnectionOptions {
  return { url: redisUrl, enableOfflineQueue: false, maxRetriesPerRequest: 1 };
}
