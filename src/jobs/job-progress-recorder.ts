import type { Logger } from "pino";
import { writeJobProgress, type NewJobEvent } from "../control/job-progress-store.js";
import type { JobStepRecord } from "../control/job-record.js";
import type { JobProgress } from "../control/job-store.js";
import type { TransactionalQueryable } from "../control/queryable.js";
import { isConnectionError, sqlStateOf } from "../engine/runner/connect.js";
import { WEBHOOK_EVENT_TYPES, type JobEventPublisher } from "../webhooks/job-event-publisher.js";
import type { PlanStep } from "../engine/plan/migration-plan.js";
import type { RunProgressEvent } from "../engine/runner/run-options.js";
import {
  NO_EARLIER_ATTEMPTS,
  stepsAppliedBefore,
  type EarlierAttempts,
} from "./earlier-attempts.js";

/** How long a step runs before its "running" state is written to the control database. */
const STARTED_STEP_DELAY_MS = 200;

/**
 * Progress is written at most this often while a job runs (the last report goes with the job's
 * outcome): steps of a few milliseconds each would otherwise cost a control-database write each.
 * The first report waits too, unless it is a plan with steps to apply, so a job with nothing to
 * do (a no-op) writes its plan with its outcome, in one statement. Pollers and webhooks see
 * progress at most this late; the job shows `running` from its claim.
 */
const PROGRESS_INTERVAL_MS = 100;

/** After a write found the control database unreachable, the next one waits this long. */
const RETRY_AFTER_OUTAGE_MS = 1_000;

/** What the recorder had not written when it was closed. */
export interface UnwrittenProgress {
  readonly progress: JobProgress;
  readonly events: NewJobEvent[];
}

/**
 * Turns the runner's progress callbacks into job rows, events and webhook deliveries. The
 * callback is synchronous while writes are not: what the runner reports is collected and written
 * by one writer, one statement per write ({@link writeJobProgress}). Whatever arrives while a
 * write is in flight goes into the next one, so a fast run costs a few writes, not three per step,
 * and events still land in the order the runner reported them. `flush()` waits until everything
 * reported is written; `close()`, before the job's outcome, stops the writer and hands back what
 * it has not written, for the outcome's statement to write.
 */
export class JobProgressRecorder {
  private startedTimer: NodeJS.Timeout | null = null;
  private steps: JobStepRecord[] = [];
  private stepsDone = 0;
  /** Steps earlier attempts applied, shown before this run's: the runner's indexes start after them. */
  private carried = 0;
  /** The heads the job started from, as its record shows them; null before the plan. */
  private startHeads: readonly string[] | null = null;
  private pendingProgress: JobProgress = {};
  private pendingEvents: NewJobEvent[] = [];
  private writer: Promise<void> | null = null;
  /** Ends the writer's pause early: set while it waits, called by flush() and close(). */
  private wake: (() => void) | null = null;
  private flushing = false;
  /** Set by close(): the writer stops after the write in flight. */
  private closed = false;
  /** Set while what is pending must be written without waiting the interval (see "planned"). */
  private urgent = false;
  /** Set when this attempt found nothing left to do and left the earlier attempt's plan shown. */
  private keptPlan = false;

  constructor(
    private readonly db: TransactionalQueryable,
    private readonly jobId: string,
    private readonly logger: Logger,
    private readonly events: JobEventPublisher,
    private readonly webhooks: {
      /** Whether the job has a callback URL: without one and without subscriptions, events stay local. */
      readonly hasCallback: boolean;
      /** Whether a webhook subscription asked for job events when the job was claimed. */
      readonly subscribed: boolean;
    },
    /** What the job's earlier attempts recorded, for a re-run to carry on (see "planned"). */
    private readonly earlier: EarlierAttempts = NO_EARLIER_ATTEMPTS,
  ) {}

  /**
   * Whether this run found nothing left to do after an earlier attempt recorded its plan (a
   * re-run after a crash, or after the outcome could not be written): the job keeps showing
   * that plan rather than an empty one, and announces no second start.
   */
  get keptRecordedPlan(): boolean {
    return this.keptPlan;
  }

  get currentSteps(): readonly JobStepRecord[] {
    return this.steps;
  }

  /** How many of currentSteps earlier attempts applied before this run. */
  get stepsAppliedBefore(): number {
    return this.carried;
  }

  /** The heads the job started from: its first attempt's, on a re-run. Null before the plan. */
  get fromHeads(): readonly string[] | null {
    return this.startHeads;
  }

  /** Whether the job's events may need webhook deliveries, to be committed with them. */
  get deliveriesExpected(): boolean {
    return this.webhooks.hasCallback || this.webhooks.subscribed;
  }

  /** Writes everything reported so far, without waiting for the next interval. */
  flush(): Promise<void> {
    if (this.startedTimer !== null) clearTimeout(this.startedTimer);
    this.flushing = true;
    this.wake?.();
    return this.writer ?? Promise.resolve();
  }

  /**
   * Stops writing: waits for the write in flight, if any, and returns the progress and events
   * not written yet, for the caller to write with the job's outcome in one statement
   * (finishJobWithEvents). Nothing is recorded after this.
   */
  async close(): Promise<UnwrittenProgress> {
    if (this.startedTimer !== null) clearTimeout(this.startedTimer);
    this.closed = true;
    this.wake?.();
    await (this.writer ?? Promise.resolve());
    const unwritten = { progress: this.pendingProgress, events: this.pendingEvents };
    this.pendingEvents = [];
    this.pendingProgress = {};
    return unwritten;
  }

  /** Adds to what the next write carries, and starts the writer if it is idle. */
  private record(progress: JobProgress, event?: NewJobEvent): void {
    // After close() the job's outcome is being written: a late report would never be.
    if (this.closed) {
      this.logger.debug({ progress, event }, "progress reported after the job's outcome; dropped");
      return;
    }
    // Nothing to write must not start a writer: it would finish before `writer` is assigned.
    if (Object.keys(progress).length === 0 && event === undefined) return;
    this.pendingProgress = { ...this.pendingProgress, ...progress };
    if (event !== undefined) this.pendingEvents.push(event);
    this.writer ??= this.writeAll();
  }

  private async writeAll(): Promise<void> {
    // The first report waits like the others (a plan with steps does not: see "planned").
    if (this.mayWait()) await this.pause();
    while (
      !this.closed &&
      (Object.keys(this.pendingProgress).length > 0 || this.pendingEvents.length > 0)
    ) {
      const progress = this.pendingProgress;
      const events = this.pendingEvents;
      this.pendingProgress = {};
      this.pendingEvents = [];
      this.urgent = false;
      try {
        // The events and their webhook deliveries commit together (see commitWithDeliveries).
        await this.events.commitWithDeliveries(
          this.db,
          this.deliveriesExpected,
          (db) => writeJobProgress(db, this.jobId, progress, events, WEBHOOK_EVENT_TYPES),
          (db, appended) =>
            this.events.recordDeliveries(db, this.jobId, appended, {
              hasCallback: this.webhooks.hasCallback,
            }),
        );
      } catch (error) {
        // Progress never stops the migration. A write that would fail again (its data refused,
        // or an error of this process) would also fail the job's outcome if handed on: dropped.
        if (!worthRetrying(error)) {
          this.logger.warn({ err: error }, "could not record job progress; dropped");
          if (this.mayWait()) await this.pause();
          continue;
        }
        // Anything else (the database unreachable, restarting, out of connections, read-only
        // during a failover) did not commit (short of a connection lost between its commit and
        // its reply): what it carried goes back in front of what came since, for the next write
        // (or the job's outcome, through close()) to carry, so a passing outage loses no event.
        this.pendingProgress = { ...progress, ...this.pendingProgress };
        this.pendingEvents = [...events, ...this.pendingEvents];
        this.logger.warn({ err: error }, "could not record job progress; retrying");
        // flush() and close() must not wait on a database that is down: they get what is left.
        if (this.hurried()) break;
        await this.pause(RETRY_AFTER_OUTAGE_MS);
        continue;
      }
      if (this.mayWait()) await this.pause();
    }
    this.writer = null;
  }

  /** flush() or close() was called (possibly during the last write): no pause before the next. */
  private hurried(): boolean {
    return this.flushing || this.closed;
  }

  /** Whether the next write may wait for the interval: nothing pending has to go at once. */
  private mayWait(): boolean {
    return !this.hurried() && !this.urgent;
  }

  /** Lets reports accumulate for the next write, until the interval ends or flush() is called. */
  private pause(ms = PROGRESS_INTERVAL_MS): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      this.wake = done;
    });
  }

  /**
   * Most steps take milliseconds: writing "running" for each would double the control database
   * writes for nothing a poller could see. A step still running after a moment is recorded.
   */
  private persistIfStillRunning(index: number, revision: string | null): void {
    if (this.startedTimer !== null) clearTimeout(this.startedTimer);
    this.startedTimer = setTimeout(() => {
      this.startedTimer = null;
      if (this.steps[index]?.state === "running") this.persist(revision);
    }, STARTED_STEP_DELAY_MS);
    this.startedTimer.unref();
  }

  onRunnerEvent(event: RunProgressEvent): void {
    switch (event.kind) {
      case "lock-waiting":
        this.record(
          { phase: "waiting_for_lock" },
          { type: "job.waiting_for_lock", data: { holder: event.holder } },
        );
        return;
      case "lock-acquired":
        // Without a wait, the plan follows within milliseconds and its write sets the phase.
        if (event.waitedMs > 0) this.record({ phase: "migrating" });
        return;
      case "planned": {
        if (event.plan.steps.length === 0 && this.earlier.planApplied(event.plan)) {
          this.keptPlan = true;
          this.startHeads = this.earlier.fromHeads ?? event.plan.fromHeads;
          return;
        }
        const planned = event.plan.steps.map(pendingStep);
        // A re-run after an interruption that committed steps: the job's record goes on from
        // where it started, with those steps, rather than starting afresh from where it stopped.
        const before = stepsAppliedBefore(this.earlier, event.plan, planned);
        const resumed = before.length > 0;
        const fromHeads = (resumed ? this.earlier.fromHeads : null) ?? event.plan.fromHeads;
        this.carried = before.length;
        this.startHeads = fromHeads;
        this.steps = [...before, ...planned];
        this.stepsDone = this.carried;
        this.record(
          {
            phase: "migrating",
            fromHeads,
            stepsTotal: this.steps.length,
            steps: this.steps,
            stepsDone: this.stepsDone,
          },
          // The first attempt announced the job's start; a resumed job announces its progress.
          resumed
            ? undefined
            : {
                type: "job.started",
                data: {
                  fromHeads: event.plan.fromHeads,
                  toHeads: event.plan.toHeads,
                  stepsTotal: this.steps.length,
                },
              },
        );
        if (this.steps.length > 0) {
          // Written now (after the write in flight, if any) while its steps run, not with the
          // outcome: should this attempt's outcome never be written (the control database lost
          // at the end: close() waits for this write; the worker killed after it), the next
          // attempt finds the steps applied and shows this plan (earlierPlanApplied) rather than
          // an empty one. A plan with nothing to do is found again by a re-run, and waits.
          this.urgent = true;
          this.wake?.();
        }
        return;
      }
      case "step-started":
        this.updateStep(this.carried + event.index, {
          state: "running",
          startedAt: new Date().toISOString(),
          attempts: event.attempt,
        });
        this.persistIfStillRunning(this.carried + event.index, revisionOf(event.step));
        return;
      case "step-succeeded": {
        const index = this.carried + event.index;
        const finishedAt = new Date().toISOString();
        this.updateStep(index, {
          state: "succeeded",
          finishedAt,
          durationMs: event.durationMs,
        });
        this.stepsDone = index + 1;
        this.persist(null, "job.progress", {
          step: this.steps[index],
          stepsDone: this.stepsDone,
          stepsTotal: this.carried + event.total,
        });
        return;
      }
      case "step-failed":
        this.updateStep(this.carried + event.index, {
          state: "failed",
          finishedAt: new Date().toISOString(),
        });
        this.persist(revisionOf(event.step));
        return;
      case "step-retrying": {
        // `all` mode rolled back the steps before the failed one too, and the failed one itself
        // when its COMMIT failed after it succeeded: they show pending again (with their attempts
        // so far) until the retry runs them, and stop counting as done.
        const retryFrom = this.carried + event.retryFrom;
        const failedAt = this.carried + event.index;
        const rolledBack = retryFrom < failedAt || this.steps[failedAt]?.state === "succeeded";
        if (rolledBack) {
          this.steps = this.steps.map((s, i) =>
            i >= retryFrom && i <= failedAt
              ? { ...s, state: "pending", startedAt: null, finishedAt: null, durationMs: null }
              : s,
          );
          this.stepsDone = retryFrom;
        }
        this.record(rolledBack ? { steps: this.steps, stepsDone: this.stepsDone } : {}, {
          type: "job.step_retrying",
          data: {
            revision: revisionOf(event.step),
            attempt: event.attempt,
            delayMs: event.delayMs,
            error: { ...event.error.data, code: event.error.code, message: event.error.message },
            stepsDone: this.stepsDone,
          },
        });
        return;
      }
      case "log":
        this.record(
          {},
          { type: "job.log", data: { revision: event.revision, message: event.message } },
        );
        return;
      default:
        return;
    }
  }

  private updateStep(index: number, patch: Partial<JobStepRecord>): void {
    const step = this.steps[index];
    if (step === undefined) return;
    this.steps = this.steps.map((s, i) => (i === index ? { ...step, ...patch } : s));
  }

  private persist(
    currentRevision: string | null,
    eventType?: string,
    data: Record<string, unknown> = {},
  ): void {
    this.record(
      { steps: this.steps, stepsDone: this.stepsDone, currentRevision },
      eventType === undefined ? undefined : { type: eventType, data },
    );
  }
}

/**
 * Whether a failed write may succeed when sent again: PostgreSQL refused it for a while (out of
 * connections, shutting down, read-only during a failover) or could not be reached (a network
 * error such as ECONNREFUSED or ENOTFOUND, pg's "Connection terminated"). Not when PostgreSQL
 * refused its data (SQLSTATE classes 22 and 23) or it failed in this process (a TypeError).
 */
function worthRetrying(error: unknown): boolean {
  const state = sqlStateOf(error);
  if (state !== null) return !state.startsWith("22") && !state.startsWith("23");
  if (isConnectionError(error)) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z]+$/.test(code);
}

function pendingStep(step: PlanStep): JobStepRecord {
  return {
    revision: revisionOf(step),
    direction: step.kind === "revision" ? step.direction : "stamp",
    state: "pending",
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    attempts: 0,
  };
}

function revisionOf(step: PlanStep): string | null {
  return step.kind === "revision" ? step.revision : (step.to[0] ?? null);
}
