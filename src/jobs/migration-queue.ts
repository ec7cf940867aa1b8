import { Queue } from "bullmq";
import { producerConnection } from "../queue/redis-connections.js";

/** The queue of migration jobs. Its payload is the control database's job id, nothing else. */
export const MIGRATION_QUEUE = "migrations";

export interface MigrationJobData {
  readonly jobId: string;
}

export interface QueueSettings {
  readonly redisUrl: string;
  /** Key prefix; hash-tagged (`{fleetway}`) so a Redis Cluster keeps a queue's keys together. */
  readonly prefix: string;
  /** Attempts for transient failures (lock busy, tenant unreachable). */
  readonly attempts: number;
}

export type MigrationQueue = Queue<MigrationJobData, unknown>;

export function createMigrationQueue(settings: QueueSettings): MigrationQueue {
  return new Queue<MigrationJobData, unknown, string>(MIGRATION_QUEUE, {
    connection: producerConnection(settings.redisUrl),
    prefix: settings.prefix,
    defaultJobOptions: {
      attempts: settings.attempts,
      backoff: { type: "fleetway" },
      removeOnComplete: true,
      removeOnFail: { count: 1000 },
    },
  });
}

/**
 * Adds the job under its own id: adding an id that is already waiting or active is a no-op in
 * BullMQ, which is what lets the API, the reconciler and retries enqueue without coordination.
 */
export async function enqueueMigrationJob(queue: MigrationQueue, jobId: string): Promise<void> {
  await queue.add("migrate", { jobId }, { jobId });
}

/** Many jobs in few round trips (a rollout launching hundreds at once), in chunks of 500. */
export async function enqueueMigrationJobs(
  queue: MigrationQueue,
  jobIds: readonly string[],
): Promise<void> {
  for (let i = 0; i < jobIds.length; i += 500) {
    await queue.addBulk(
      jobIds
        .slice(i, i + 500)
        .map((jobId) => ({ name: "migrate", data: { jobId }, opts: { jobId } })),
    );
  }
}
