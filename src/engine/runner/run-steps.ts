import type { MigrationPlan, PlanStep } from "../plan/migration-plan.js";
import type { RevisionScript } from "../script/revision-script.js";
import { cancelledError } from "./cancellation.js";
import { executeStepAttempt } from "./execute-step.js";
import type { StepOutcome } from "./run-options.js";
import { runStepsInOneTransaction } from "./run-steps-in-one-transaction.js";
import type { RunSession } from "./run-session.js";
import {
  backOffBeforeRetry,
  classifyFailure,
  recordFailedAttempt,
  retryCause,
  stepData,
} from "./step-failure.js";

/**
 * Runs the plan's steps in order. A step that fails on its lock_timeout, or as a deadlock's victim,
 * is rolled back and retried with backoff (the migration yields to production traffic; see
 * retryCause); any other failure stops the run with the database at the last committed step
 * (per-revision) or where it started (`all`, where the whole transaction is what is retried: see
 * runStepsInOneTransaction). Every failed attempt is appended to the history table after its
 * rollback.
 */
export async function runSteps(
  session: RunSession,
  plan: MigrationPlan,
  scriptOf: (id: string) => RevisionScript,
): Promise<StepOutcome[]> {
  if (session.transactionMode === "all") return runStepsInOneTransaction(session, plan, scriptOf);
  const outcomes: StepOutcome[] = [];
  let committedHeads = plan.fromHeads;
  for (const [index, step] of plan.steps.entries()) {
    const script = step.kind === "revision" ? scriptOf(step.revision) : null;
    outcomes.push(
      await runOneStep(session, step, script, index, plan.steps.length, committedHeads),
    );
    committedHeads = step.headsAfter;
  }
  return outcomes;
}

/**
 * One step in its own transaction, retried on its own. A non-transactional revision's statements
 * commit one by one: the failed one did not apply, those before it did, and the retry runs it
 * again from its first statement, as after any failure (such revisions must be re-runnable).
 */
async function runOneStep(
  session: RunSession,
  step: PlanStep,
  script: RevisionScript | null,
  index: number,
  total: number,
  committedHeads: readonly string[],
): Promise<StepOutcome> {
  const firstStartedAt = new Date();
  for (let attempt = 1; ; attempt++) {
    if (session.signal.aborted) throw cancelledError("before the next step", stepData(step));
    const startedAt = new Date();
    session.emit({ kind: "step-started", step, index, total, attempt });
    try {
      await executeStepAttempt(session, step, script, startedAt);
      const finishedAt = new Date();
      const durationMs = finishedAt.getTime() - startedAt.getTime();
      session.emit({ kind: "step-succeeded", step, index, total, durationMs });
      return { step, startedAt: firstStartedAt, finishedAt, durationMs, attempts: attempt };
    } catch (thrown) {
      const error = classifyFailure(session, step, thrown);
      const cause = attempt <= session.lockTimeoutRetries ? retryCause(error) : null;
      await recordFailedAttempt(session, step, script, startedAt, error, committedHeads);
      if (cause === null) {
        session.emit({ kind: "step-failed", step, index, total, error });
        throw error;
      }
      await backOffBeforeRetry(session, { step, index, error }, attempt, cause, index);
    }
  }
}
