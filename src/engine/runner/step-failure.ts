import { FleetwayError, isFleetwayError, ErrorCode } from "../errors.js";
import type { PlanStep } from "../plan/migration-plan.js";
import type { RevisionScript } from "../script/revision-script.js";
import { backoffDelay, type BackoffPolicy } from "./backoff.js";
import { cancellationByDrop, cancelledError } from "./cancellation.js";
import { sqlStateOf } from "./connect.js";
import { historyEntry } from "./execute-step.js";
import { appendHistory } from "./history-table.js";
import type { StepRetryCause } from "./run-options.js";
import type { RunSession } from "./run-session.js";
import { DEADLOCK_DETECTED, LOCK_NOT_AVAILABLE, QUERY_CANCELED } from "./step-error.js";

const LOCK_RETRY: BackoffPolicy = { baseMs: 500, factor: 2, maxMs: 30_000 };

/**
 * Why a failed attempt is worth another after a backoff, or null: PostgreSQL gave up on one of its
 * lock waits, past lock_timeout (55P03) or by aborting it as the victim of a deadlock (40P01). The
 * attempt's transaction was rolled back and nothing of it applied; the other session, no longer
 * waiting, can finish. (A non-transactional revision's statements commit one by one: see
 * run-steps.ts.)
 */
export function retryCause(error: FleetwayError): StepRetryCause | null {
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
 * Appends a failed attempt to the history table, after its rollback. Best effort: the failure must
 * not hide behind a second one (e.g. the connection is gone).
 *
 * @param headsBefore the heads the attempt started from (what its row says the database was at)
 */
export async function recordFailedAttempt(
  session: RunSession,
  step: PlanStep,
  script: RevisionScript | null,
  startedAt: Date,
  error: FleetwayError,
  headsBefore: readonly string[],
): Promise<void> {
  await appendHistory(
    session.client,
    session.historyTable,
    historyEntry(session, step, script, startedAt, error, headsBefore),
  ).catch(() => undefined);
}

/**
 * Reports `step-retrying` and sleeps the backoff of the `attempt` (1-based) that failed; the
 * retry runs the plan again from step `retryFrom`.
 *
 * @throws FleetwayError MIGRATION_CANCELLED when the run is cancelled meanwhile
 */
export async function backOffBeforeRetry(
  session: RunSession,
  failed: { readonly step: PlanStep; readonly index: number; readonly error: FleetwayError },
  attempt: number,
  cause: StepRetryCause,
  retryFrom: number,
): Promise<void> {
  const delayMs = backoffDelay(LOCK_RETRY, attempt, session.random);
  const { step, index, error } = failed;
  session.emit({ kind: "step-retrying", step, index, retryFrom, attempt, delayMs, cause, error });
  try {
    await session.sleep(delayMs, session.signal);
  } catch {
    throw cancelledError("while waiting to retry a step", stepData(failed.step));
  }
}

/**
 * What a step's attempt threw, as the FleetwayError it reports. A cancel request surfaces as
 * 57014 from PostgreSQL, or as the connection failing when the tenant did not answer it; report
 * either as the cancellation it is.
 */
export function classifyFailure(
  session: RunSession,
  step: PlanStep,
  thrown: unknown,
): FleetwayError {
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

/** The step in an error's data. */
export function stepData(step: PlanStep): Record<string, unknown> {
  return step.kind === "revision"
    ? { revision: step.revision, direction: step.direction }
    : { stamp: step.to, direction: step.direction };
}

function describe(step: PlanStep): string {
  return step.kind === "revision"
    ? `${step.direction === "up" ? "upgrade" : "downgrade"} of ${step.revision}`
    : `stamp to ${step.to.join(", ") || "base"}`;
}
