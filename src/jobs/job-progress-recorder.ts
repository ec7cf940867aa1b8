import type { Logger } from "pino";
import type { Queryable } from "../control/queryable.js";
import { appendJobEvent } from "../control/job-event-store.js";
import type { JobEventPublisher } from "../webhooks/job-event-publisher.js";
import type { JobPhase, JobStepRecord } from "../control/job-record.js";
import { updateJobProgress } from "../control/job-store.js";
import type { PlanStep } from "../engine/plan/migration-plan.js";
import type { RunProgressEvent } from "../engine/runner/run-options.js";

/** How long a step runs before its "running" state is written to the control database. */
const STARTED_STEP_DELAY_MS = 200;

/**
 * Turns the runner's progress callbacks into job rows and events. The callback is synchronous
 * while writes are not: writes are chained so they land in the order the runner reported them,
 * and `flush()` waits for the last one before the job's outcome is written.
 */
export class JobProgressRecorder {
  private chain: Promise<void> = Promise.resolve();
  private startedTimer: NodeJS.Timeout | null = null;
  private steps: JobStepRecord[] = [];
  private stepsDone = 0;

  constructor(
    private readonly db: Queryable,
    private readonly jobId: string,
    private readonly logger: Logger,
    private readonly events: JobEventPublisher,
    /** Whether the job has a callback URL: without one and without subscriptions, events stay local. */
    private readonly hasCallback: boolean,
  ) {}

  get currentSteps(): readonly JobStepRecord[] {
    return this.steps;
  }

  get completedSteps(): number {
    return this.stepsDone;
  }

  /** Queues a write; a failing write is logged and does not stop the migration. */
  private write(work: () => Promise<unknown>): void {
    this.chain = this.chain.then(work).then(
      () => undefined,
      (error: unknown) => {
        this.logger.warn({ err: error }, "could not record job progress");
      },
    );
  }

  flush(): Promise<void> {
    if (this.startedTimer !== null) clearTimeout(this.startedTimer);
    return this.chain;
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

  phase(phase: JobPhase, eventType?: string, data: Record<string, unknown> = {}): void {
    this.write(async () => {
      await updateJobProgress(this.db, this.jobId, { phase });
      if (eventType !== undefined) await appendJobEvent(this.db, this.jobId, eventType, data);
    });
  }

  onRunnerEvent(event: RunProgressEvent): void {
    switch (event.kind) {
      case "lock-waiting":
        this.phase("waiting_for_lock", "job.waiting_for_lock", { holder: event.holder });
        return;
      case "lock-acquired":
        this.phase("migrating");
        return;
      case "planned": {
        this.steps = event.plan.steps.map(pendingStep);
        const fromHeads = event.plan.fromHeads;
        const steps = this.steps;
        this.write(async () => {
          await updateJobProgress(this.db, this.jobId, {
            fromHeads,
            stepsTotal: steps.length,
            steps,
            stepsDone: 0,
          });
          await this.events.publish(
            this.db,
            this.jobId,
            "job.started",
            {
              fromHeads,
              toHeads: event.plan.toHeads,
              stepsTotal: steps.length,
            },
            { hasCallback: this.hasCallback },
          );
        });
        return;
      }
      case "step-started":
        this.updateStep(event.index, {
          state: "running",
          startedAt: new Date().toISOString(),
          attempts: event.attempt,
        });
        this.persistIfStillRunning(event.index, revisionOf(event.step));
        return;
      case "step-succeeded": {
        const finishedAt = new Date().toISOString();
        this.updateStep(event.index, {
          state: "succeeded",
          finishedAt,
          durationMs: event.durationMs,
        });
        this.stepsDone = event.index + 1;
        this.persist(null, "job.progress", {
          step: this.steps[event.index],
          stepsDone: this.stepsDone,
          stepsTotal: event.total,
        });
        return;
      }
      case "step-failed":
        this.updateStep(event.index, { state: "failed", finishedAt: new Date().toISOString() });
        this.persist(revisionOf(event.step));
        return;
      case "step-retrying":
        this.write(() =>
          appendJobEvent(this.db, this.jobId, "job.step_retrying", {
            revision: revisionOf(event.step),
            attempt: event.attempt,
            delayMs: event.delayMs,
            error: { ...event.error.data, code: event.error.code, message: event.error.message },
          }),
        );
        return;
      case "log":
        this.write(() =>
          appendJobEvent(this.db, this.jobId, "job.log", {
            revision: event.revision,
            message: event.message,
          }),
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
    const steps = this.steps;
    const stepsDone = this.stepsDone;
    this.write(async () => {
      await updateJobProgress(this.db, this.jobId, { steps, stepsDone, currentRevision });
      if (eventType !== undefined) {
        await this.events.publish(this.db, this.jobId, eventType, data, {
          hasCallback: this.hasCallback,
        });
      }
    });
  }
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
