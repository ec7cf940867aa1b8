import { FleetwayError, isFleetwayError, ErrorCode } from "../errors.js";
import type { MigrationPlan, PlanStep } from "../plan/migration-plan.js";
import type { RevisionScript } from "../script/revision-script.js";
import { backoffDelay, type BackoffPolicy } from "./backoff.js";
import { cancellationByDrop, cancelledError } from "./cancellation.js";
import { sqlStateOf } from "./connect.js";
import { executeStepAttempt, historyEntry } from "./execute-step.js";
import { appendHistory } from "./history-table.js";
import type { StepOutcome, StepRetryCause } from "./run-options.js";
import type { RunSession } from "./run-session.js";
import { DEADLOCK_DETECTED, LOCK_NOT_AVAILABLE, QUERY_CANCELED } from "./step-error.js";

const LOCK_RETRY: BackoffPolicy = { baseMs: 500, factor: 2, maxMs: 30_000 };

/**
 * Runs the plan's steps in order. A step that fails on its lock_timeout, or as a deadlock's victim,
 * is rolled back and retried with backoff (the migration yields to production traffic; see
 * retryCause); any other failure stops the run with the database at the last committed step
 * (per-revision) or where it started (`all`). Every failed attempt is appended to the history
 * table after its rollback.
 */
export async function runSteps(
  session: RunSession,
  plan: MigrationPlan,
  scriptOf: (id: string) => RevisionScript,
): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  const all = session.transactionMode === "all";
  if (all) await session.client.query("BEGIN");
  let committedHeads = plan.fromHeads;
  let current: { step: PlanStep; script: RevisionScript | null; startedAt: Date } | null = null;
  try {
    for (const [index, step] of plan.steps.entries()) {
      const script = step.kind === "revision" ? scriptOf(step.revision) : null;
      current = { step, script, startedAt: new Date() };
      outcomes.push(
        await runOneStep(session, step, script, index, plan.steps.length, committedHeads),
      );
      if (!all) committedHeads = step.headsAfter;
    }
    if (all) await commitRun(session, current?.step ?? null);
    return outcomes;
  } catch (error) {
    if (all) {
      await session.client.query("ROLLBACK").catch(() => undefined);
      if (current !== null && error instanceof FleetwayError) {
        const entry = historyEntry(
          session,
          current.step,
          current.script,
          current.startedAt,
          error,
          plan.fromHeads,
        );
        await appendHistory(session.client, session.historyTable, entry).catch(() => undefined);
      }
    }
    throw error;
  }
}

/**
 * `all` mode's COMMIT. A deferred constraint fails there, after every step succeeded: that is the
 * run's failure like a step's (MIGRATION_FAILED with the SQLSTATE), and the caller's catch rolls
 * back and records it against the last step, the one the failure surfaced after.
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
      await recordFailure(session, step, script, startedAt, error, committedHeads);
      if (cause === null) {
        session.emit({ kind: "step-failed", step, index, total, error });
        throw error;
      }
      const delayMs = backoffDelay(LOCK_RETRY, attempt, session.random);
      session.emit({ kind: "step-retrying", step, index, attempt, delayMs, cause, error });
      try {
        await session.sleep(delayMs, session.signal);
      } catch {
        throw cancelledError("while waiting to retry a step", stepData(step));
      }
    }
  }
}

/**
 * Why a failed attempt is worth another after a backoff, or null: PostgreSQL gave up on one of its
 * lock waits, past lock_timeout (55P03) or by aborting it as the victim of a deadlock (40P01). Either
 * way the attempt's transaction (in `all` mode, the step's savepoint) was rolled back and nothing
 * of it applied; the other session, no longer waiting, can finish. A non-transactional revision's
 * statements commit one by one: the failed one did not apply, those before it did, and the retry
 * runs it again from its first statement, as after any failure (such revisions must be re-runnable).
 * In `all` mode the retry runs inside the run's transaction, which keeps the locks of the steps
 * before: a deadlock through one of those happens again on every attempt, until the retries run out.
 */
function retryCause(error: FleetwayError): StepRetryCause | null {
  switch (error.data.sqlstate) {
    case LOCK_NOT_AVAILABLE:
      return "lock-timeout";
    case DEADLOCK_DETECTED:
      return "deadlock";
    default:
      return null;
  }
}

/**
 * A cancel request surfaces as 57014 from PostgreSQL, or as the connection failing when the
 * tenant did not answer it; report either as the cancellation it is.
 */
function classifyFailure(session: RunSession, step: PlanStep, thrown: unknown): FleetwayError {
  const error =
    thrown instanceof FleetwayError
      ? thrown
      : new FleetwayError(
          ErrorCode.MIGRATION_FAILED,
          String(thrown),
          { ...stepData(step), sqlstate: sqlStateOf(thrown) },
          { cause: thrown },
        );
  // Cancelled by dropping the connection: the tenant did not answer the cancel (see cancelOnAbort).
  const dropped = cancellationByDrop(
    session.signal,
    error,
    `during ${describe(step)}`,
    stepData(step),
  );
  if (dropped !== null) return dropped;
  // Cancelled: the server cancelled the statement, the runner stopped, or a code revision gave up
  // because of ctx.signal (throwIfAborted throws the signal's reason; fetch-like APIs an AbortError).
  const cancelled =
    session.signal.aborted &&
    (error.data.sqlstate === QUERY_CANCELED ||
      !isFleetwayError(error, ErrorCode.MIGRATION_FAILED) ||
      isAbortOf(session.signal, error.cause));
  if (!cancelled) return error;
  return cancelledError(`during ${describe(step)}; the step was rolled back`, {
    ...stepData(step),
    sqlstate: error.data.sqlstate ?? null,
  });
}

function isAbortOf(signal: AbortSignal, thrown: unknown): boolean {
  return (
    thrown !== undefined &&
    (thrown === signal.reason || (thrown instanceof Error && thrown.name === "AbortError"))
  );
}

/** Best effort: the failure must not hide behind a second one (e.g. the connection is gone). */
async function recordFailure(
  session: RunSession,
  step: PlanStep,
  script: RevisionScript | null,
  startedAt: Date,
  error: FleetwayError,
  committedHeads: readonly string[],
): Promise<void> {
  if (session.transactionMode === "all") return; // recorded once the run's transaction is rolled back
  await appendHistory(
    session.client,
    session.historyTable,
    historyEntry(session, step, script, startedAt, error, committedHeads),
  ).catch(() => undefined);
}

function stepData(step: PlanStep): Record<string, unknown> {
  return step.kind === "revision"
    ? { revision: step.revision, direction: step.direction }
    : { stamp: step.to, direction: step.direction };
}

function describe(step: PlanStep): string {
  return step.kind === "revision"
    ? `${step.direction === "up" ? "upgrade" : "downgrade"} of ${step.revision}`
    : `stamp to ${step.to.join(", ") || "base"}`;
}
