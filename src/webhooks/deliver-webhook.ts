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

/**
 * One attempt of one delivery: sign, POST, log the attempt, decide what happens next. Only a 2xx
 * counts; a 410 from a subscription's endpoint disables the subscription; 429/503 Retry-After is
 * honoured; otherwise the retry schedule decides, and the delivery fails when it runs out.
 *
 * @param entryAttempt the attempt the queue entry was added for: an entry for any other than the
 *   delivery's next attempt is stale (a redelivery re-added attempt N just as N finished and
 *   queued N+1) and sends nothing, so the receiver never gets one attempt twice
 */
export async function attemptDelivery(
  deps: DeliveryDeps,
  deliveryId: string,
  entryAttempt?: number,
): Promise<DeliveryOutcome> {
  const delivery = await getDelivery(deps.pool, deliveryId);
  if (delivery?.state !== "pending") return { kind: "done" };
  const attempt = delivery.attempts + 1;
  if (entryAttempt !== undefined && entryAttempt !== attempt) return { kind: "done" };
  const startedAt = deps.now?.() ?? new Date();
  /** Records the attempt; `nextDelayMs` when the schedule wants another one. */
  const settle = async (
    log: Parameters<typeof recordAttempt>[2],
    state: DeliveryState,
    nextDelayMs?: number,
  ): Promise<DeliveryOutcome> => {
    const { redelivered } = await recordAttempt(deps.pool, delivery, log, state);
    // A redelivery asked for while this attempt was in flight found its queue entry active and
    // left the sending to it: it goes now, after this attempt, whatever this one's outcome.
    if (redelivered) return { kind: "retry", attempt: attempt + 1, delayMs: 0 };
    return nextDelayMs === undefined
      ? { kind: "done" }
      : { kind: "retry", attempt: attempt + 1, delayMs: nextDelayMs };
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
    const outcome = await settle({ ...log, nextAttemptAt: null }, "failed");
    logger.warn("webhook endpoint answered 410: subscription disabled");
    return outcome;
  }
  const retryAfter =
    status === 429 || status === 503
      ? parseRetryAfter(result.retryAfter, startedAt.getTime())
      : null;
  const delayMs = nextAttemptDelay(deps.schedule, attempt, retryAfter, deps.random);
  if (delayMs === null) {
    const outcome = await settle({ ...log, nextAttemptAt: null }, "failed");
    if (outcome.kind === "done")
      logger.warn({ statusCode: status, error: log.error }, "webhook delivery failed for good");
    return outcome;
  }
  const nextAttemptAt = new Date(startedAt.getTime() + result.durationMs + delayMs);
  const outcome = await settle({ ...log, nextAttemptAt }, "pending", delayMs);
  logger.info(
    {
      statusCode: status,
      error: log.error,
      delayMs: outcome.kind === "retry" ? outcome.delayMs : null,
    },
    "webhook attempt failed; will retry",
  );
  return outcome;
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
