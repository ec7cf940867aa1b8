import type pg from "pg";
import type { Logger } from "pino";
import {
  getDelivery,
  recordAttempt,
  type DeliveryRecord,
  type DeliveryState,
} from "../control/delivery-store.js";
import { getJob } from "../control/job-store.js";
import type { SecretBox } from "../control/secret-box.js";
import { disableSubscription, requireSubscription } from "../control/webhook-store.js";
import { postWebhook } from "./post-webhook.js";
import { nextAttemptDelay, parseRetryAfter } from "./retry-schedule.js";
import { signWebhook } from "./sign-webhook.js";
import type { AddressPolicy } from "./ssrf-guard.js";

export interface DeliveryDeps {
  readonly pool: pg.Pool;
  readonly secretBox: SecretBox;
  readonly logger: Logger;
  readonly policy: AddressPolicy;
  readonly timeoutMs: number;
  /** Delays after attempt 1, 2, ... fail (the first entry is the delay of attempt 1 itself). */
  readonly schedule: readonly number[];
  /** Signs callbacks of jobs that gave no secret of their own. */
  readonly callbackSecret: string;
  readonly random?: () => number;
  readonly now?: () => Date;
}

/** What the queue should do next: nothing, or attempt again after `delayMs`. */
export type DeliveryOutcome =
  | { readonly kind: "done" }
  | { readonly kind: "retry"; readonly attempt: number; readonly delayMs: number };

const DONE: DeliveryOutcome = { kind: "done" };

/**
 * One attempt of one delivery: sign, POST, log the attempt, decide what happens next. Only a 2xx
 * counts; a 410 from a subscription's endpoint disables the subscription; 429/503 Retry-After is
 * honoured; a URL whose host is an address literal the SSRF guard forbids fails at once;
 * otherwise the retry schedule decides, and the delivery fails when it runs out.
 *
 * BullMQ runs an entry at least once: two runs that overlap (the first's lock lapsed during a
 * slow POST) both send the attempt, and the second to record it leaves the first's outcome be
 * and logs a warning (receivers deduplicate by webhook-id).
 *
 * @param entryAttempt the attempt the queue entry was added for: an entry for any other than the
 *   delivery's next attempt is stale (a redelivery re-added attempt N just as N finished and
 *   queued N+1) and sends nothing, so the receiver does not get attempt N again
 */
export async function attemptDelivery(
  deps: DeliveryDeps,
  deliveryId: string,
  entryAttempt?: number,
): Promise<DeliveryOutcome> {
  const delivery = await getDelivery(deps.pool, deliveryId);
  if (delivery?.state !== "pending") return DONE;
  const attempt = delivery.attempts + 1;
  if (entryAttempt !== undefined && entryAttempt !== attempt) return DONE;
  const startedAt = deps.now?.() ?? new Date();
  /**
   * Records the attempt and says what the queue does next: attempt again after `nextDelayMs`
   * when given, else nothing. `onCounted` runs with that outcome only when this run's record
   * counts; when another run of the same queue entry recorded the attempt first, or the delivery
   * is gone, nothing follows from this run: done, and `onCounted` does not run.
   */
  const settle = async (
    log: Parameters<typeof recordAttempt>[2],
    state: DeliveryState,
    next: {
      readonly nextDelayMs?: number;
      readonly onCounted?: (outcome: DeliveryOutcome) => void;
    } = {},
  ): Promise<DeliveryOutcome> => {
    const recording = await recordAttempt(deps.pool, delivery, log, state);
    if (recording.kind === "already-recorded") {
      // BullMQ ran the queue entry twice (its lock lapsed during a slow POST): the receiver got
      // this attempt twice, with one webhook-id to deduplicate by. The first run's outcome stands
      // and it queued whatever comes next; this POST is accounted for here, not in the log table.
      deps.logger.warn(
        {
          deliveryId,
          url: delivery.urlMasked,
          attempt,
          statusCode: log.statusCode,
          error: log.error,
        },
        "webhook attempt sent twice (its queue entry ran twice); the first run's outcome stands",
      );
      return DONE;
    }
    if (recording.kind === "gone") return DONE;
    // A redelivery asked for while this attempt was in flight found its queue entry active and
    // left the sending to it: it goes now, after this attempt, whatever this one's outcome.
    const outcome: DeliveryOutcome = recording.redelivered
      ? { kind: "retry", attempt: attempt + 1, delayMs: 0 }
      : next.nextDelayMs === undefined
        ? DONE
        : { kind: "retry", attempt: attempt + 1, delayMs: next.nextDelayMs };
    next.onCounted?.(outcome);
    return outcome;
  };
  const secrets = await signingSecrets(deps, delivery, startedAt);
  if (secrets === null) {
    return settle(
      {
        attempt,
        startedAt,
        durationMs: 0,
        statusCode: null,
        responseExcerpt: null,
        error: "subscription disabled or deleted",
        nextAttemptAt: null,
      },
      "failed",
    );
  }
  const body = JSON.stringify(delivery.payload);
  const headers = signWebhook(delivery.messageId, startedAt, body, secrets);
  const result = await postWebhook(
    deps.secretBox.decrypt(delivery.urlSealed),
    body,
    { ...headers },
    {
      timeoutMs: deps.timeoutMs,
      policy: deps.policy,
    },
  );
  const status = result.statusCode;
  const log = {
    attempt,
    startedAt,
    durationMs: result.durationMs,
    statusCode: status,
    responseExcerpt: result.excerpt,
    error:
      result.error ?? (status !== null && (status < 200 || status > 299) ? `HTTP ${status}` : null),
  };
  const logger = deps.logger.child({
    deliveryId,
    eventType: delivery.eventType,
    url: delivery.urlMasked,
  });
  if (status !== null && status >= 200 && status <= 299) {
    return settle({ ...log, nextAttemptAt: null }, "succeeded");
  }
  if (status === 410 && delivery.subscriptionId !== null) {
    await disableSubscription(deps.pool, delivery.subscriptionId, "the endpoint answered 410 Gone");
    return settle({ ...log, nextAttemptAt: null }, "failed", {
      onCounted: () => {
        logger.warn("webhook endpoint answered 410: subscription disabled");
      },
    });
  }
  const retryAfter =
    status === 429 || status === 503
      ? parseRetryAfter(result.retryAfter, startedAt.getTime())
      : null;
  // A forbidden address literal stays forbidden: retrying it for a day would change nothing.
  const delayMs = result.permanent
    ? null
    : nextAttemptDelay(deps.schedule, attempt, retryAfter, deps.random);
  if (delayMs === null) {
    return settle({ ...log, nextAttemptAt: null }, "failed", {
      onCounted: (outcome) => {
        // Not when a redelivery asked for meanwhile sends it again at once.
        if (outcome.kind === "done")
          logger.warn({ statusCode: status, error: log.error }, "webhook delivery failed for good");
      },
    });
  }
  const nextAttemptAt = new Date(startedAt.getTime() + result.durationMs + delayMs);
  return settle({ ...log, nextAttemptAt }, "pending", {
    nextDelayMs: delayMs,
    onCounted: (outcome) => {
      logger.info(
        {
          statusCode: status,
          error: log.error,
          delayMs: outcome.kind === "retry" ? outcome.delayMs : null,
        },
        "webhook attempt failed; will retry",
      );
    },
  });
}

/** The secrets that sign now: a subscription's current one plus, during a rotation, the previous one. */
async function signingSecrets(
  deps: DeliveryDeps,
  delivery: DeliveryRecord,
  now: Date,
): Promise<string[] | null> {
  if (delivery.subscriptionId !== null) {
    const subscription = await requireSubscription(deps.pool, delivery.subscriptionId).catch(
      () => null,
    );
    if (subscription === null || !subscription.enabled) return null;
    const secrets = [deps.secretBox.decrypt(subscription.secretSealed)];
    if (
      subscription.previousSecretSealed !== null &&
      subscription.previousSecretExpiresAt !== null &&
      subscription.previousSecretExpiresAt > now
    ) {
      secrets.push(deps.secretBox.decrypt(subscription.previousSecretSealed));
    }
    return secrets;
  }
  const job = delivery.jobId === null ? null : await getJob(deps.pool, delivery.jobId);
  return [
    job?.callbackSecretSealed == null
      ? deps.callbackSecret
      : deps.secretBox.decrypt(job.callbackSecretSealed),
  ];
}
