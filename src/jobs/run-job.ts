import type pg from "pg";
import type { Logger } from "pino";
import { appendJobEvent } from "../control/job-event-store.js";
import type { JobRecord } from "../control/job-record.js";
import { claimJobForRun } from "../control/claim-job.js";
import {
  finishJobWithEvents,
  writeJobProgress,
  type EventSubscriber,
  type JobHeads,
  type NewJobEvent,
} from "../control/job-progress-store.js";
import {
  cancelledBeforeRunMessage,
  getJob,
  heartbeatJob,
  requeueJob,
  type JobOutcome,
  type JobProgress,
} from "../control/job-store.js";
import type { SecretBox } from "../control/secret-box.js";
import { getTenant } from "../control/tenant-store.js";
import type { Queryable } from "../control/queryable.js";
import { tenantView } from "../webhooks/payload-views.js";
import { ErrorCode, FleetwayError } from "../engine/errors.js";
import type { Migrations } from "../engine/load-migrations.js";
import type { MigrationPlan } from "../engine/plan/migration-plan.js";
import { migrate } from "../engine/migrate.js";
import { isConnectionError } from "../engine/runner/connect.js";
import type { TenantConnections } from "../engine/runner/tenant-connections.js";
import { WEBHOOK_EVENT_TYPES, type JobEventPublisher } from "../webhooks/job-event-publisher.js";
import { CommittedHeads, type HeadsAfterRun } from "./committed-heads.js";
import { appliedStep } from "./earlier-attempts.js";
import { JobProgressRecorder, type UnwrittenProgress } from "./job-progress-recorder.js";

export interface MigrationSettings {
  readonly lockTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly lockTimeoutRetries: number;
  readonly advisoryLockTimeoutMs: number;
  /** The version table in each tenant's schema; the engine's default (fleetway_version) without. */
  readonly versionTable?: string;
}

export interface RunJobDeps {
  readonly pool: pg.Pool;
  readonly migrations: Migrations;
  readonly secretBox: SecretBox;
  readonly logger: Logger;
  readonly migration: MigrationSettings;
  /** How often a running job proves it is alive and checks for a cancel request. */
  readonly heartbeatMs: number;
  readonly workerId: string;
  /** Where tenant connections come from; by default a new one per job. */
  readonly connections?: TenantConnections;
  /** Appends job events and their webhook deliveries. */
  readonly events: JobEventPublisher;
  /** Called when a rollout's job reached its final state, so the rollout advances at once. */
  readonly onJobFinished?: (job: JobRecord) => void;
  /** Metrics hook: called for every committed step. */
  readonly onStepCommitted?: (direction: "up" | "down" | "stamp", seconds: number) => void;
}

/** How one attempt of a job ended, for the queue to act on. */
export type AttemptOutcome =
  | { readonly kind: "finished"; readonly job: JobRecord | null }
  /** A transient failure: the queue should retry the job after a backoff. */
  | { readonly kind: "retry"; readonly error: FleetwayError }
  /** The worker is shutting down: the job was put back to queued for another worker. */
  | { readonly kind: "interrupted" };

/** The migration succeeded but the control database could not be told: another attempt will. */
class SuccessNotRecorded extends Error {
  constructor(cause: unknown) {
    super("the job succeeded but its outcome could not be recorded; the next attempt will", {
      cause,
    });
  }
}

/**
 * Heartbeat intervals a heartbeat may go unanswered before the next one is sent anyway; below
 * FLEETWAY_JOB_STALE_MS, which is at least three intervals (load-config.ts).
 */
const HEARTBEAT_PATIENCE = 3;

/** Failures that another attempt may not meet: the tenant was busy or unreachable. */
const TRANSIENT: readonly ErrorCode[] = [ErrorCode.LOCK_BUSY, ErrorCode.CONNECTION_FAILED];

/**
 * One attempt at one job: claim it, run the engine on the tenant, record progress and the
 * outcome. Safe to run twice for the same job (BullMQ is at-least-once): a finished job is not
 * claimed again, and the engine plans from the tenant's live version table under its lock, so
 * a revision a crashed attempt committed is not applied again.
 *
 * @param isLastAttempt whether the queue will not retry a transient failure
 * @param shutdown aborted when the worker stops; the job is then re-queued, not cancelled
 */
export async function runJobAttempt(
  deps: RunJobDeps,
  jobId: string,
  isLastAttempt: boolean,
  shutdown: AbortSignal,
): Promise<AttemptOutcome> {
  const { pool } = deps;
  const logger = deps.logger.child({ jobId });
  const claimed = await claimJobForRun(pool, jobId, deps.workerId);
  if (claimed === null) {
    // Not claimable: finished already, cancelled before it started, or gone.
    const existing = await getJob(pool, jobId);
    if (existing?.state === "queued" && existing.cancelRequested) {
      return { kind: "finished", job: await cancelUnstarted(deps, existing) };
    }
    return { kind: "finished", job: existing };
  }
  const { job, tenant } = claimed;
  const webhooks = {
    hasCallback: job.callbackUrlSealed !== null,
    subscribed: claimed.subscribed.jobEvents,
  };

  const cancel = new AbortController();
  const stop: { reason: "cancel" | "shutdown" | null } = { reason: null };
  const onShutdown = (): void => {
    stop.reason ??= "shutdown";
    cancel.abort(new Error("worker shutting down"));
  };
  shutdown.addEventListener("abort", onShutdown, { once: true });
  if (shutdown.aborted) onShutdown();
  // One heartbeat at a time: while the control database does not answer, a timer's every tick
  // would otherwise queue another statement in the pool, all sent at once when it comes back.
  // One unanswered for HEARTBEAT_PATIENCE intervals is given up on (its connection may have died
  // without a word, which TCP takes many minutes to notice): the next goes out on another
  // connection, so a cancel request is still seen while the rest of the pool works.
  const patienceMs = HEARTBEAT_PATIENCE * deps.heartbeatMs;
  let heartbeatSentAt: number | null = null;
  const heartbeat = setInterval(() => {
    const now = Date.now();
    if (heartbeatSentAt !== null && now - heartbeatSentAt < patienceMs) return;
    heartbeatSentAt = now;
    heartbeatJob(pool, jobId)
      .then(
        ({ cancelRequested }) => {
          if (cancelRequested && !cancel.signal.aborted) {
            stop.reason ??= "cancel";
            cancel.abort(new Error("cancel requested"));
          }
        },
        (error: unknown) => {
          logger.warn({ err: error }, "heartbeat failed");
        },
      )
      .finally(() => {
        if (heartbeatSentAt === now) heartbeatSentAt = null;
      });
  }, deps.heartbeatMs);
  heartbeat.unref();

  const recorder = new JobProgressRecorder(pool, jobId, logger, deps.events, webhooks, {
    fromHeads: job.fromHeads,
    steps: job.steps,
    planApplied: (plan) => earlierPlanApplied(job, plan),
  });
  const committed = new CommittedHeads(job.transactionMode);
  /** What the recorder handed back, kept until written (should the first attempt fail). */
  let unwritten: UnwrittenProgress | null = null;
  /**
   * The job's outcome with the recorder's last progress and events and the outcome's own event
   * and the tenant's heads as the job left them (`after`: see CommittedHeads; a run that never
   * read them leaves them alone), then their webhook deliveries. Null when another attempt
   * finished the job.
   */
  const finish = async (
    outcome: Omit<JobOutcome, "steps">,
    event: NewJobEvent,
    after: HeadsAfterRun,
  ): Promise<JobRecord | null> => {
    const heads =
      after.kind === "known" ? after.heads : after.kind === "unknown" ? null : undefined;
    const succeeded = outcome.state === "succeeded";
    unwritten ??= await recorder.close();
    const finished = await finishWithEvents(
      deps,
      job,
      // A kept plan stays as recorded unless the outcome says otherwise.
      { ...(recorder.keptRecordedPlan ? {} : { steps: recorder.currentSteps }), ...outcome },
      unwritten.progress,
      [...unwritten.events, event],
      recorder.deliveriesExpected || (succeeded && claimed.subscribed.tenantReady),
      heads === undefined
        ? undefined
        : {
            tenantId: tenant.id,
            heads,
            databaseUrlSealed: tenant.databaseUrlSealed,
            schema: tenant.schema,
          },
    );
    unwritten = { progress: {}, events: [] };
    return finished;
  };
  try {
    const result = await migrate({
      migrations: deps.migrations,
      operation: job.operation,
      target: job.target,
      connectionString: deps.secretBox.decrypt(tenant.databaseUrlSealed),
      schema: tenant.schema,
      ...(deps.migration.versionTable === undefined
        ? {}
        : { versionTable: deps.migration.versionTable }),
      transactionMode: job.transactionMode,
      lockTimeoutMs: job.lockTimeoutMs ?? deps.migration.lockTimeoutMs,
      statementTimeoutMs: job.statementTimeoutMs ?? deps.migration.statementTimeoutMs,
      lockTimeoutRetries: deps.migration.lockTimeoutRetries,
      advisoryLockTimeoutMs: deps.migration.advisoryLockTimeoutMs,
      jobId,
      appliedBy: `fleetway:${deps.workerId}`,
      applicationName: jobApplicationName(jobId),
      signal: cancel.signal,
      ...(deps.connections === undefined ? {} : { connections: deps.connections }),
      onProgress: (event) => {
        recorder.onRunnerEvent(event);
        committed.onRunnerEvent(event);
        if (event.kind === "step-succeeded") {
          const direction = event.step.kind === "revision" ? event.step.direction : "stamp";
          deps.onStepCommitted?.(direction, event.durationMs / 1000);
        }
      },
    });
    // Nothing left to do after an earlier attempt applied the plan: that plan is what happened.
    const kept = recorder.keptRecordedPlan;
    const applied = kept ? job.steps.map(appliedStep) : null;
    const finished = await finish(
      {
        state: "succeeded",
        toHeads: result.toHeads,
        error: null,
        ...(applied === null
          ? { stepsDone: recorder.stepsAppliedBefore + result.steps.length }
          : { steps: applied, stepsDone: applied.length }),
      },
      {
        type: "job.succeeded",
        // Where the job started: a re-run's plan starts where an earlier attempt stopped.
        data: { fromHeads: recorder.fromHeads ?? result.fromHeads, toHeads: result.toHeads },
      },
      { kind: "known", heads: result.toHeads },
    ).catch((error: unknown) => {
      // The tenant is migrated: a control database that went away must not get it recorded as
      // failed once it is back. The attempt fails instead, the job stays running, and the next
      // attempt (the queue's retry, or the reconciler's) finds nothing to do and succeeds.
      if (isConnectionError(error)) throw new SuccessNotRecorded(error);
      throw error;
    });
    logger.info(
      { tenantId: tenant.id, toHeads: result.toHeads, steps: result.steps.length },
      "job succeeded",
    );
    return { kind: "finished", job: finished };
  } catch (thrown) {
    if (thrown instanceof SuccessNotRecorded) throw thrown;
    const error = asFleetwayError(thrown);
    if (stop.reason === "shutdown") {
      await recorder.flush();
      await requeueJob(pool, jobId, null);
      await appendJobEvent(pool, jobId, "job.interrupted", {
        reason: "worker shutdown",
        error: errorJson(error),
      });
      logger.warn("job interrupted by shutdown; re-queued");
      return { kind: "interrupted" };
    }
    if (stop.reason === "cancel" || error.code === ErrorCode.MIGRATION_CANCELLED) {
      const finished = await finish(
        { state: "cancelled", error: errorJson(error) },
        { type: "job.cancelled", data: { error: errorJson(error) } },
        committed.afterFailure(error),
      );
      return { kind: "finished", job: finished };
    }
    if (heldByThisJob(error, jobId)) {
      // An earlier attempt of this very job holds the tenant's lock: its worker stalled past the
      // stale time (paused, cut off from Redis) and BullMQ handed the job on, but it still runs
      // and will record the outcome. Re-queueing or failing the job would contradict it, so this
      // attempt steps aside and leaves the record alone. Should that worker be gone for good, its
      // session (and lock) goes with it, and the reconciler re-queues the job once its heartbeat
      // is stale.
      await recorder.close();
      logger.warn({ err: error }, "an earlier attempt of this job still holds the tenant's lock");
      return { kind: "finished", job: null };
    }
    if (TRANSIENT.includes(error.code) && !isLastAttempt) {
      await recorder.flush();
      await writeJobProgress(pool, jobId, { phase: "retrying", error: errorJson(error) }, [], []);
      await requeueJob(pool, jobId, "retrying");
      await appendJobEvent(pool, jobId, "job.retrying", {
        attempt: job.attempts,
        error: errorJson(error),
      });
      logger.warn({ err: error }, "transient failure; the job will be retried");
      return { kind: "retry", error };
    }
    const finished = await finish(
      { state: "failed", error: errorJson(error) },
      { type: "job.failed", data: { error: errorJson(error) } },
      committed.afterFailure(error),
    );
    logger.warn({ err: error }, "job failed");
    return { kind: "finished", job: finished };
  } finally {
    clearInterval(heartbeat);
    shutdown.removeEventListener("abort", onShutdown);
  }
}

/**
 * Finishes a job cancelled before it started (see finishWithEvents). Not claimed, so whether
 * subscriptions want its event is not known: its deliveries are always written with it.
 */
function cancelUnstarted(deps: RunJobDeps, job: JobRecord): Promise<JobRecord | null> {
  const error = {
    code: ErrorCode.MIGRATION_CANCELLED,
    message: cancelledBeforeRunMessage(job.attempts),
  };
  return finishWithEvents(
    deps,
    job,
    { state: "cancelled", error },
    {},
    [{ type: "job.cancelled", data: { error } }],
    true,
  );
}

/**
 * A job's outcome with its last progress and events in one statement (a worker stopping after it
 * never leaves a finished job nobody was told about) and their webhook deliveries, committed
 * together when deliveries are expected (JobEventPublisher.commitWithDeliveries). The same
 * statement records `heads`, the heads the job left, and after a success whether the tenant
 * became ready (`tenant.ready`). Null when the job had already finished: nothing is then written.
 */
async function finishWithEvents(
  deps: RunJobDeps,
  job: JobRecord,
  outcome: JobOutcome,
  last: JobProgress,
  events: readonly NewJobEvent[],
  deliveriesExpected: boolean,
  heads?: JobHeads,
): Promise<JobRecord | null> {
  const finished = await deps.events.commitWithDeliveries(
    deps.pool,
    deliveriesExpected,
    (db) => finishJobWithEvents(db, job.id, outcome, last, events, WEBHOOK_EVENT_TYPES, heads),
    // The job's own events first: a receiver hears that the job succeeded, then that its
    // tenant became ready.
    async (db, { job: ended, appended, ready }) => [
      ...(ended === null
        ? []
        : await deps.events.recordDeliveries(db, job.id, appended, {
            hasCallback: job.callbackUrlSealed !== null,
            job: ended,
          })),
      ...(ready === null || heads === undefined
        ? []
        : await recordTenantReady(deps, db, heads.tenantId, job.id, ready.subscribers)),
    ],
  );
  return finished.job;
}

/** `tenant.ready`'s deliveries, with the tenant as the API shows it (read only when wanted). */
async function recordTenantReady(
  deps: RunJobDeps,
  db: Queryable,
  tenantId: string,
  jobId: string,
  subscribers: readonly EventSubscriber[],
): Promise<string[]> {
  if (subscribers.length === 0) return [];
  const tenant = await getTenant(db, tenantId);
  // Reachable: with no deliveries expected when the job was claimed (a subscription created
  // since), the job's end commits on its own before this read, and a DELETE of the tenant, which
  // its ended job no longer holds off, may commit in between.
  if (tenant === null) return [];
  return deps.events.recordTenantReady(db, tenantView(tenant), jobId, subscribers);
}

/**
 * Whether a re-run that found nothing left to do (`plan` empty) finds the tenant where the plan
 * an earlier attempt recorded was taking it: an upgrade whose last step's revision is among the
 * tenant's heads now. Anything else (no plan recorded, a downgrade or stamp, a tenant that is
 * somewhere else, e.g. moved to another database meanwhile) records the empty plan as it is.
 */
function earlierPlanApplied(job: JobRecord, plan: MigrationPlan): boolean {
  const last = job.steps.at(-1);
  return (
    job.stepsTotal !== null &&
    job.operation === "upgrade" &&
    last?.revision != null &&
    plan.fromHeads.includes(last.revision)
  );
}

/** The error as jobs and events show it: code and message with the error's data beside them. */
export function errorJson(error: FleetwayError): Record<string, unknown> {
  return { ...error.data, code: error.code, message: error.message };
}

/**
 * Anything the engine did not type is a bug or an infrastructure failure; the job records a
 * generic message (details go to the log only, never to API clients).
 */
function asFleetwayError(error: unknown): FleetwayError {
  if (error instanceof FleetwayError) return error;
  return new FleetwayError(
    ErrorCode.INTERNAL_ERROR,
    "The worker failed unexpectedly; see its log",
    {},
    { cause: error },
  );
}

/** The application_name of a job's tenant sessions: what a lock holder is recognised by. */
function jobApplicationName(jobId: string): string {
  return `fleetway-job-${jobId.slice(0, 8)}`;
}

/** LOCK_BUSY whose holder is a session of this same job (another attempt of it). */
function heldByThisJob(error: FleetwayError, jobId: string): boolean {
  if (error.code !== ErrorCode.LOCK_BUSY) return false;
  const holder = error.data.holder as { applicationName?: unknown } | null | undefined;
  return holder?.applicationName === jobApplicationName(jobId);
}
