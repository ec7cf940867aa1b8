import type { Logger } from "pino";
import { inTransaction } from "../control/control-db.js";
import { insertDeliveries, type NewDelivery } from "../control/delivery-store.js";
import {
  writeJobProgress,
  type AppendedJobEvent,
  type EventSubscriber,
} from "../control/job-progress-store.js";
import type { JobRecord } from "../control/job-record.js";
import { getJob } from "../control/job-store.js";
import type { Queryable, TransactionalQueryable } from "../control/queryable.js";
import { nextRolloutEventSeq } from "../control/rollout-store.js";
import { subscriptionsFor } from "../control/webhook-store.js";
import { showUrl } from "./origin-only.js";
import { jobView } from "./payload-views.js";
import { enqueueDelivery, type WebhookQueue } from "./webhook-queue.js";

/** The job events receivers can subscribe to. `job.progress` (one per step) only when asked for. */
export const WEBHOOK_EVENT_TYPES = [
  "job.queued",
  "job.started",
  "job.progress",
  "job.succeeded",
  "job.failed",
  "job.cancelled",
  "rollout.started",
  "rollout.wave_completed",
  "rollout.halted",
  "rollout.succeeded",
  "rollout.failed",
  "rollout.cancelled",
  "tenant.ready",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Per-job callbacks get every event except the chatty per-step one. */
const CALLBACK_EVENTS: ReadonlySet<string> = new Set(
  WEBHOOK_EVENT_TYPES.filter((t) => t.startsWith("job.") && t !== "job.progress"),
);

/**
 * Appends job events and, for webhook event types, records one delivery per matching
 * subscription and one for the job's callback URL, in the caller's transaction: the delivery
 * exists exactly when the event does. Enqueueing happens after commit ({@link enqueue}).
 */
export class JobEventPublisher {
  constructor(
    private readonly queue: WebhookQueue | null,
    private readonly logger: Logger,
  ) {}

  /**
   * Appends an event to an active job (see {@link writeJobProgress}); `known.ending` when it is
   * the event of the job's end, which the caller's transaction has just recorded.
   *
   * @returns ids of the deliveries to enqueue once the transaction commits
   */
  async record(
    db: Queryable,
    jobId: string,
    type: string,
    data: Record<string, unknown> = {},
    known: { hasCallback?: boolean; ending?: boolean } = {},
  ): Promise<string[]> {
    const appended = await writeJobProgress(db, jobId, {}, [{ type, data }], WEBHOOK_EVENT_TYPES, {
      ending: known.ending === true,
    });
    return this.recordDeliveries(db, jobId, appended, known);
  }

  /**
   * Records the deliveries of events already appended (by {@link writeJobProgress}, which found
   * their subscribers): one per subscriber, and one to the job's callback URL for the job events
   * callbacks get. Reads the job only when somebody is to be told and `known.job` (the job as
   * the events left it) is not given.
   *
   * @returns ids of the deliveries to enqueue once the transaction commits
   */
  async recordDeliveries(
    db: Queryable,
    jobId: string,
    appended: readonly AppendedJobEvent[],
    known: { hasCallback?: boolean; job?: JobRecord } = {},
  ): Promise<string[]> {
    const isWebhookType = (type: string): boolean =>
      (WEBHOOK_EVENT_TYPES as readonly string[]).includes(type);
    const wanted = appended.filter(
      (e) =>
        isWebhookType(e.type) &&
        (e.subscribers.length > 0 || (known.hasCallback !== false && CALLBACK_EVENTS.has(e.type))),
    );
    // Nobody to tell: skip reading the job back (the common case, once per step).
    if (wanted.length === 0) return [];
    const job = known.job ?? (await getJob(db, jobId));
    if (job === null) return [];
    const deliveries: NewDelivery[] = [];
    for (const event of wanted) {
      // Never a secret or connection string: the job view masks and omits them. The callback
      // URL is shown as its origin: a subscriber is not the callback's receiver and must not get
      // the token in its path or query, and the callback's receiver knows its own URL.
      const payload = {
        type: event.type,
        timestamp: new Date().toISOString(),
        data: { ...jobView(job, "origin"), sequence: event.seq },
      };
      for (const s of event.subscribers) {
        deliveries.push({
          subscriptionId: s.id,
          jobId,
          urlSealed: s.urlSealed,
          urlMasked: s.urlMasked,
          eventType: event.type,
          payload,
        });
      }
      const callbackUrlSealed = CALLBACK_EVENTS.has(event.type) ? job.callbackUrlSealed : null;
      if (callbackUrlSealed !== null) {
        deliveries.push({
          subscriptionId: null,
          jobId,
          urlSealed: callbackUrlSealed,
          urlMasked: job.callbackUrl ?? "",
          eventType: event.type,
          payload,
        });
      }
    }
    return insertDeliveries(db, deliveries);
  }

  /**
   * Records a rollout event's deliveries (subscriptions asking for it and the rollout's callback)
   * with a per-rollout sequence number. `data` is the rollout as GET /v1/rollouts/{id} shows it;
   * its callback URL is sent as its origin whatever `data` says, as a job's is (see
   * {@link recordDeliveries}).
   */
  async recordRolloutEvent(
    db: Queryable,
    rollout: { id: string; callbackUrlSealed: string | null; callbackUrl: string | null },
    type: WebhookEventType,
    data: Record<string, unknown>,
  ): Promise<string[]> {
    const subscriptions = await subscriptionsFor(db, type);
    if (subscriptions.length === 0 && rollout.callbackUrlSealed === null) return [];
    const sequence = await nextRolloutEventSeq(db, rollout.id);
    const callbackUrl = showUrl(rollout.callbackUrl, "origin");
    const payload = {
      type,
      timestamp: new Date().toISOString(),
      data: { ...data, callbackUrl, sequence },
    };
    const deliveries: NewDelivery[] = subscriptions.map((s) => ({
      subscriptionId: s.id,
      jobId: null,
      rolloutId: rollout.id,
      urlSealed: s.urlSealed,
      urlMasked: s.urlMasked,
      eventType: type,
      payload,
    }));
    if (rollout.callbackUrlSealed !== null) {
      deliveries.push({
        subscriptionId: null,
        jobId: null,
        rolloutId: rollout.id,
        urlSealed: rollout.callbackUrlSealed,
        urlMasked: rollout.callbackUrl ?? "",
        eventType: type,
        payload,
      });
    }
    return insertDeliveries(db, deliveries);
  }

  /**
   * Records `tenant.ready` deliveries to the subscriptions that ask for it (found by the
   * outcome's statement, finishJobWithEvents): a new tenant's first migration succeeded.
   *
   * @returns ids of the deliveries to enqueue once the transaction commits
   */
  async recordTenantReady(
    db: Queryable,
    tenant: Record<string, unknown>,
    jobId: string,
    subscriptions: readonly EventSubscriber[],
  ): Promise<string[]> {
    if (subscriptions.length === 0) return [];
    const payload = {
      type: "tenant.ready",
      timestamp: new Date().toISOString(),
      data: { tenant, jobId },
    };
    return insertDeliveries(
      db,
      subscriptions.map((s) => ({
        subscriptionId: s.id,
        jobId,
        urlSealed: s.urlSealed,
        urlMasked: s.urlMasked,
        eventType: "tenant.ready",
        payload,
      })),
    );
  }

  /**
   * Runs `write` (statements appending events) and `deliveriesOf` (recording the deliveries its
   * events need), and enqueues the deliveries once they are committed. When deliveries are
   * expected, both run in one transaction: a process stopping after the events commit must not
   * leave them without their deliveries, since nothing creates a delivery later (the reconciler
   * only re-enqueues recorded ones). When none are expected (no callback and no subscription:
   * the common case) they run statement by statement, which saves a BEGIN and a COMMIT per
   * write; a subscription created meanwhile still gets its deliveries, recorded right after.
   *
   * @returns what `write` returned
   */
  async commitWithDeliveries<T>(
    pool: TransactionalQueryable,
    deliveriesExpected: boolean,
    write: (db: Queryable) => Promise<T>,
    deliveriesOf: (db: Queryable, written: T) => Promise<readonly string[]>,
  ): Promise<T> {
    if (deliveriesExpected) {
      const { written, deliveryIds } = await inTransaction(pool, async (tx) => {
        const result = await write(tx);
        return { written: result, deliveryIds: await deliveriesOf(tx, result) };
      });
      await this.enqueue(deliveryIds);
      return written;
    }
    const written = await write(pool);
    try {
      await this.enqueue(await deliveriesOf(pool, written));
    } catch (error) {
      // The events are committed: failing here would have them written again.
      this.logger.warn({ err: error }, "could not record the webhook deliveries of job events");
    }
    return written;
  }

  /** Hands committed deliveries to the webhook queue; on failure the reconciler does it later. */
  async enqueue(deliveryIds: readonly string[]): Promise<void> {
    if (this.queue === null) return;
    for (const id of deliveryIds) {
      try {
        await enqueueDelivery(this.queue, id, 1);
      } catch (error) {
        this.logger.warn(
          { deliveryId: id, err: error },
          "could not enqueue a webhook delivery; the reconciler will",
        );
      }
    }
  }
}
