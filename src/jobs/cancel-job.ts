import type pg from "pg";
import { inTransaction } from "../control/control-db.js";
import type { JobRecord } from "../control/job-record.js";
import { cancelQueuedJob, requestCancel } from "../control/job-store.js";
import type { JobEventPublisher } from "../webhooks/job-event-publisher.js";
import type { MigrationQueue } from "./migration-queue.js";

export interface CancelJobDeps {
  readonly pool: pg.Pool;
  readonly events: JobEventPublisher;
  readonly queue: Pick<MigrationQueue, "remove">;
}

/** How a cancel request ended. */
export type CancelOutcome =
  /** The job was queued: it is cancelled, with its job.cancelled event. */
  | { readonly kind: "cancelled"; readonly job: JobRecord }
  /** The job is running: its worker stops it at its next heartbeat. */
  | { readonly kind: "requested"; readonly job: JobRecord }
  /** The job had already ended (or does not exist): nothing to cancel. */
  | { readonly kind: "not-active" };

/**
 * Asks a job to stop. The request, a queued job's cancellation and its event (or, when
 * `requestedBy` is given, a running job's job.cancel_requested event) commit together, so a
 * process stopping half-way never leaves a cancelled job nobody was told about; their webhook
 * deliveries are enqueued after the commit, and a queued job leaves the queue.
 */
export async function cancelJob(
  deps: CancelJobDeps,
  jobId: string,
  requestedBy?: { readonly name: string | null },
): Promise<CancelOutcome> {
  const { outcome, deliveries } = await inTransaction(deps.pool, async (tx) => {
    const flagged = await requestCancel(tx, jobId);
    if (flagged === null) return { outcome: { kind: "not-active" } as const, deliveries: [] };
    const cancelled = await cancelQueuedJob(tx, jobId);
    if (cancelled !== null) {
      return {
        outcome: { kind: "cancelled", job: cancelled } as const,
        deliveries: await deps.events.record(
          tx,
          jobId,
          "job.cancelled",
          { error: cancelled.error },
          { ending: true },
        ),
      };
    }
    return {
      outcome: { kind: "requested", job: flagged } as const,
      deliveries:
        requestedBy === undefined
          ? []
          : await deps.events.record(tx, jobId, "job.cancel_requested", { by: requestedBy.name }),
    };
  });
  await deps.events.enqueue(deliveries);
  if (outcome.kind === "cancelled") await deps.queue.remove(jobId).catch(() => 0);
  return outcome;
}
