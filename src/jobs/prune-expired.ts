import type pg from "pg";
import type { Logger } from "pino";
import {
  pruneFinishedJobBatch,
  pruneFinishedRollouts,
  RETENTION_JOB_BATCH,
  type ExpiredJobCursor,
} from "../control/retention-store.js";

/** How long one round of pruning may keep deleting batches before it leaves the rest for later. */
const PRUNE_BUDGET_MS = 5_000;

/**
 * Deletes finished rollouts and jobs past their retention (FLEETWAY_RETENTION_DAYS), batch after
 * batch, until none is left or {@link PRUNE_BUDGET_MS} has passed. Each batch is one short statement, so a
 * backlog (the first round after an upgrade) never holds locks for long; processes pruning at
 * the same time take disjoint batches. Rollouts go first: their jobs follow them.
 *
 * The round's batches of jobs go through the expired jobs once, each starting where the previous
 * one stopped ({@link pruneFinishedJobBatch}): a job that becomes deletable behind that point
 * meanwhile (its tenant's next job arrives, a rollout batch deletes its rollout) waits for the
 * next round.
 *
 * @param jobBatch - jobs one batch deletes at most
 * @returns whether it stopped on its budget with more left to delete
 */
export async function pruneExpired(
  pool: pg.Pool,
  retentionDays: number,
  logger: Logger,
  jobBatch: number = RETENTION_JOB_BATCH,
): Promise<{ more: boolean }> {
  if (retentionDays <= 0) return { more: false };
  const started = Date.now();
  let jobs = 0;
  let rollouts = 0;
  // Once a batch of rollouts comes back empty none is left for this round: deleting jobs makes
  // no rollout expire, and one another process holds (SKIP LOCKED) is that process's to delete.
  let rolloutsLeft = true;
  // Where the next batch of jobs starts (null: from the oldest); once a batch says none is left,
  // the round has been through them all.
  let jobsAfter: ExpiredJobCursor | null = null;
  let jobsLeft = true;
  let more: boolean;
  do {
    const rolloutsNow: number = rolloutsLeft ? await pruneFinishedRollouts(pool, retentionDays) : 0;
    rolloutsLeft = rolloutsNow > 0;
    if (jobsLeft) {
      const batch = await pruneFinishedJobBatch(pool, retentionDays, {
        limit: jobBatch,
        after: jobsAfter,
      });
      jobs += batch.deleted;
      jobsAfter = batch.next;
      jobsLeft = batch.next !== null;
    }
    rollouts += rolloutsNow;
    more = rolloutsLeft || jobsLeft;
  } while (more && Date.now() - started < PRUNE_BUDGET_MS);
  if (rollouts + jobs > 0) {
    logger.debug({ jobs, rollouts }, "deleted finished jobs and rollouts past their retention");
  }
  return { more };
}
