import { ErrorCode, FleetwayError } from "../errors.js";
import type { MigrationPlan, PlanStep } from "../plan/migration-plan.js";
import type { RevisionScript } from "../script/revision-script.js";
import { cancelledError } from "./cancellation.js";
import { sqlStateOf } from "./connect.js";
import { executeStepAttempt } from "./execute-step.js";
import type { StepOutcome } from "./run-options.js";
import type { RunSession } from "./run-session.js";
import {
  backOffBeforeRetry,
  classifyFailure,
  recordFailedAttempt,
  retryCause,
  stepData,
} from "./step-failure.js";

/**
 * `all` mode: the plan's steps in one transaction, committed together. A lock timeout or a
 * deadlock, at a step or at COMMIT (a deferred constraint's check locks rows), rolls the whole
 * transaction back and, after the backoff, runs the plan again from its first step. Retrying the
 * failed step alone (in a savepoint) would keep the locks the steps before it took: the other
 * session may be waiting for one of them, and then the deadlock or the lock wait comes back on
 * every retry; and the backoff would be spent holding them, blocking the traffic the retry yields
 * to. The retries (`lockTimeoutRetries`) count for the run, its transaction being what commits.
 *
 * The plan is not made again: the rollback left the version table as the plan found it under the
 * advisory lock, and each step's bookkeeping refuses one changed behind the lock's back
 * (VERSION_TABLE_CONFLICT), as in per-revision mode.
 *
 * Every failed attempt leaves one history row after its rollback, against the step it failed in
 * (the last step for a failed COMMIT), with the heads the run started from.
 */
export async function runStepsInOneTransaction(
  session: RunSession,
  plan: MigrationPlan,
  scriptOf: (id: string) => RevisionScript,
): Promise<StepOutcome[]> {
  const firstStarts: Date[] = [];
  for (let attempt = 1; ; attempt++) {
    const run = await runOnce(session, plan, scriptOf, attempt, firstStarts);
    if (run.failure === null) return run.outcomes;
    const { step, script, startedAt, error } = run.failure;
    await recordFailedAttempt(session, step, script, startedAt, error, plan.fromHeads);
    const cause = attempt <= session.lockTimeoutRetries ? retryCause(error) : null;
    if (cause === null) {
      if (run.failure.inStep) {
        const { index } = run.failure;
        session.emit({ kind: "step-failed", step, index, total: plan.steps.length, error });
      }
      throw error;
    }
    await backOffBeforeRetry(session, run.failure, attempt, cause, 0);
  }
}

/** How an attempt at the run's transaction failed, once it was rolled back. */
interface RunFailure {
  readonly step: PlanStep;
  readonly script: RevisionScript | null;
  readonly index: number;
  readonly startedAt: Date;
  readonly error: FleetwayError;
  /** The step's own attempt failed (not the COMMIT after it, nor a cancel found before it). */
  readonly inStep: boolean;
}

type RunAttempt =
  { readonly failure: null; readonly outcomes: StepOutcome[] } | { readonly failure: RunFailure };

/**
 * One attempt at the whole transaction: BEGIN, every step, COMMIT. A failure that names a step is
 * rolled back and returned; any other is rolled back and thrown.
 *
 * @param firstStarts when each step was first started, across attempts (filled in here)
 */
async function runOnce(
  session: RunSession,
  plan: MigrationPlan,
  scriptOf: (id: string) => RevisionScript,
  attempt: number,
  firstStarts: Date[],
): Promise<RunAttempt> {
  const { client } = session;
  const rollBack = (): Promise<unknown> => client.query("ROLLBACK").catch(() => undefined);
  const total = plan.steps.length;
  const outcomes: StepOutcome[] = [];
  let current: Omit<RunFailure, "error" | "inStep"> | null = null;
  try {
    await client.query("BEGIN");
  } catch (thrown) {
    // After a retry's backoff the session sat idle for up to 30 s: a failover or a killed
    // session fails here, and is reported against the first step as a step's failure would be
    // (MIGRATION_FAILED with its cause), not as an unexplained error of the worker.
    const [first] = plan.steps;
    if (first === undefined) throw thrown;
    const script = first.kind === "revision" ? scriptOf(first.revision) : null;
    const error = classifyFailure(session, first, thrown);
    return {
      failure: { step: first, script, index: 0, startedAt: new Date(), error, inStep: true },
    };
  }
  try {
    for (const [index, step] of plan.steps.entries()) {
      const script = step.kind === "revision" ? scriptOf(step.revision) : null;
      const startedAt = new Date();
      current = { step, script, index, startedAt };
      firstStarts[index] ??= startedAt;
      if (session.signal.aborted) throw cancelledError("before the next step", stepData(step));
      session.emit({ kind: "step-started", step, index, total, attempt });
      try {
        await executeStepAttempt(session, step, script, startedAt);
      } catch (thrown) {
        const error = classifyFailure(session, step, thrown);
        await rollBack();
        return { failure: { ...current, error, inStep: true } };
      }
      const finishedAt = new Date();
      const durationMs = finishedAt.getTime() - startedAt.getTime();
      session.emit({ kind: "step-succeeded", step, index, total, durationMs });
      const first = firstStarts[index] ?? startedAt;
      outcomes.push({ step, startedAt: first, finishedAt, durationMs, attempts: attempt });
    }
    await commitRun(session, current?.step ?? null);
    return { failure: null, outcomes };
  } catch (error) {
    await rollBack();
    if (current === null || !(error instanceof FleetwayError)) throw error;
    return { failure: { ...current, error, inStep: false } };
  }
}

/**
 * The run's COMMIT. A deferred constraint fails there, after every step succeeded: that is the
 * run's failure like a step's (MIGRATION_FAILED with the SQLSTATE), recorded against the last
 * step, the one the failure surfaced after; its check may also wait for a row lock, and end in a
 * lock timeout or a deadlock like a step's statements.
 */
async function commitRun(session: RunSession, last: PlanStep | null): Promise<void> {
  try {
    await session.client.query("COMMIT");
  } catch (error) {
    const sqlstate = sqlStateOf(error);
    const message = error instanceof Error ? error.message : String(error);
    const fields = error as { detail?: string; constraint?: string };
    throw new FleetwayError(
      ErrorCode.MIGRATION_FAILED,
      `COMMIT of the run's transaction failed${sqlstate === null ? "" : ` (SQLSTATE ${sqlstate})`}: ${message}`,
      {
        ...(last === null ? {} : stepData(last)),
        commit: true,
        sqlstate,
        message,
        detail: fields.detail ?? null,
        constraint: fields.constraint ?? null,
      },
      { cause: error },
    );
  }
}
