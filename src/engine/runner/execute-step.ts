import { ErrorCode, FleetwayError } from "../errors.js";
import type { PlanStep } from "../plan/migration-plan.js";
import type { RevisionScript } from "../script/revision-script.js";
import type { HistoryEntry } from "./history-table.js";
import {
  isRecordStepConflict,
  literals,
  parameters,
  recordStepConflict,
  recordStepSql,
} from "./record-step.js";
import { runRevisionBody } from "./run-body.js";
import {
  beginStepSql,
  RESET_STEP_TIMEOUTS_SQL,
  resetStepTimeouts,
  setStepTimeouts,
  type RunSession,
} from "./run-session.js";

/**
 * One attempt at one step. Per-revision mode: the body, the version-table change and the history
 * row commit in one transaction (or, for a non-transactional revision, the body runs on its own
 * and the bookkeeping commits right after). `all` mode: the step runs in the run's transaction,
 * which the caller opened and rolls back after any failure (see runStepsInOneTransaction).
 */
export async function executeStepAttempt(
  session: RunSession,
  step: PlanStep,
  script: RevisionScript | null,
  startedAt: Date,
): Promise<void> {
  const { client } = session;
  const transactional = script === null || script.transactional;
  if (session.transactionMode === "all") {
    try {
      await setStepTimeouts(session, true);
      await runStepBody(session, step, script, true);
      await recordStep(session, step, script, startedAt);
    } catch (error) {
      if (isRecordStepConflict(error, session.historyTable))
        throw recordStepConflict(session.versionTable, step.headChange, error);
      throw error;
    }
    return;
  }
  if (!transactional) {
    await setStepTimeouts(session, false);
    try {
      await runStepBody(session, step, script, false);
    } catch (error) {
      await resetStepTimeouts(session).catch(() => undefined);
      throw error;
    }
  }
  try {
    if (transactional) {
      // The whole step in one query when its body is SQL: BEGIN and timeouts, the revision's SQL,
      // the bookkeeping (with its own guard, see recordStepSql) and COMMIT.
      const done = await runStepBody(session, step, script, true, {
        prelude: beginStepSql(session),
        epilogue: recordAndCommitSql(session, step, script, startedAt, true),
      });
      if (done) return;
    }
    // The body ran apart (code, a stamp, or outside any transaction): the bookkeeping and COMMIT
    // in one query, opened with BEGIN and the timeouts when no transaction is open yet; after a
    // body run outside any transaction, the same query resets the session's step timeouts.
    const bookkeeping = recordAndCommitSql(session, step, script, startedAt, false);
    await client.query(
      transactional
        ? bookkeeping
        : `${beginStepSql(session)}${bookkeeping};\n${RESET_STEP_TIMEOUTS_SQL}`,
    );
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    if (!transactional) await resetStepTimeouts(session).catch(() => undefined);
    if (isRecordStepConflict(error, session.historyTable))
      throw recordStepConflict(session.versionTable, step.headChange, error);
    throw error;
  }
}

/** SQL sent in the same query as a SQL body: before it, and after it. */
interface Surrounding {
  readonly prelude: string;
  readonly epilogue?: string;
}

/**
 * The step's body. `around.prelude` (BEGIN and timeouts) is always run: in the same query as a
 * SQL body, on its own otherwise. `around.epilogue` is only sent with a SQL body.
 *
 * @returns whether the epilogue ran (the caller must then not run it again)
 */
async function runStepBody(
  session: RunSession,
  step: PlanStep,
  script: RevisionScript | null,
  inTransaction: boolean,
  around: Surrounding = { prelude: "" },
): Promise<boolean> {
  const { prelude } = around;
  if (step.kind !== "revision" || script === null) {
    if (prelude !== "") await session.client.query(prelude);
    return false;
  }
  const body = step.direction === "up" ? script.upgrade : script.downgrade;
  if (body === null) {
    // The planner refuses these; this guards a plan built some other way.
    throw new FleetwayError(
      ErrorCode.MISSING_DOWNGRADE,
      `Revision ${script.id} has no downgrade section and cannot be downgraded`,
      { revision: script.id, path: script.path },
    );
  }
  if (body.kind === "sql") {
    await runRevisionBody(session, script, step.direction, body, inTransaction, around);
    return around.epilogue !== undefined;
  }
  if (prelude !== "") await session.client.query(prelude);
  await runRevisionBody(session, script, step.direction, body, inTransaction);
  return false;
}

/**
 * The bookkeeping of a successful step and COMMIT, as text for a simple query (values written as
 * literals); `serverClock` when it is sent with the step's own SQL (see recordStepSql).
 */
function recordAndCommitSql(
  session: RunSession,
  step: PlanStep,
  script: RevisionScript | null,
  startedAt: Date,
  serverClock: boolean,
): string {
  return `${recordStepSql(
    session.versionTable,
    session.historyTable,
    step,
    historyEntry(session, step, script, startedAt, null),
    literals(),
    serverClock,
  )};\nCOMMIT`;
}

/** The bookkeeping of a step in a round trip of its own (see recordStepSql). */
async function recordStep(
  session: RunSession,
  step: PlanStep,
  script: RevisionScript | null,
  startedAt: Date,
): Promise<void> {
  const values = parameters();
  const sql = recordStepSql(
    session.versionTable,
    session.historyTable,
    step,
    historyEntry(session, step, script, startedAt, null),
    values,
    false,
  );
  await session.client.query(sql, values.params);
}

/** The history row of a step attempt; `error` null for success. */
export function historyEntry(
  session: RunSession,
  step: PlanStep,
  script: RevisionScript | null,
  startedAt: Date,
  error: FleetwayError | null,
  headsAfterFailure: readonly string[] = [],
): HistoryEntry {
  return {
    revision: step.kind === "revision" ? step.revision : null,
    direction: step.kind === "revision" ? step.direction : "stamp",
    operation: session.operation,
    checksum: script?.checksum ?? null,
    startedAt,
    finishedAt: new Date(),
    success: error === null,
    error: error === null ? null : { ...error.data, code: error.code, message: error.message },
    jobId: session.jobId,
    appliedBy: session.appliedBy,
    headsAfter: error === null ? step.headsAfter : headsAfterFailure,
  };
}
