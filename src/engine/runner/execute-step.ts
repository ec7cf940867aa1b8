import { ErrorCode, FleetwayError } from "../errors.js";
import type { PlanStep } from "../plan/migration-plan.js";
import type { RevisionScript } from "../script/revision-script.js";
import { insertHistorySql, type HistoryEntry } from "./history-table.js";
import { runRevisionBody } from "./run-body.js";
import {
  beginStep,
  beginStepSql,
  resetStepTimeouts,
  setStepTimeouts,
  type RunSession,
} from "./run-session.js";
import { headChangeOperations, versionTableConflict } from "./version-table.js";

/**
 * One attempt at one step. Per-revision mode: the body, the version-table change and the history
 * row commit in one transaction (or, for a non-transactional revision, the body runs on its own
 * and the bookkeeping commits right after). `all` mode: the caller holds the transaction open and
 * the step runs inside a savepoint, so a lock timeout can be retried without losing earlier steps.
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
    await client.query("SAVEPOINT fleetway_step");
    try {
      await setStepTimeouts(session, true);
      await runStepBody(session, step, script, true);
      await recordStep(session, step, script, startedAt);
      await client.query("RELEASE SAVEPOINT fleetway_step");
    } catch (error) {
      await client.query("ROLLBACK TO SAVEPOINT fleetway_step").catch(() => undefined);
      throw error;
    }
    return;
  }
  if (!transactional) {
    await setStepTimeouts(session, false);
    try {
      await runStepBody(session, step, script, false);
    } finally {
      await resetStepTimeouts(session).catch(() => undefined);
    }
  }
  try {
    if (transactional) await runStepBody(session, step, script, true, beginStepSql(session));
    else await beginStep(session);
    await recordStep(session, step, script, startedAt);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/**
 * The step's body. `prelude` (BEGIN and timeouts) is always run: in the same query as a SQL body,
 * on its own otherwise.
 */
async function runStepBody(
  session: RunSession,
  step: PlanStep,
  script: RevisionScript | null,
  inTransaction: boolean,
  prelude = "",
): Promise<void> {
  if (step.kind !== "revision" || script === null) {
    if (prelude !== "") await session.client.query(prelude);
    return;
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
    await runRevisionBody(session, script, step.direction, body, inTransaction, prelude);
    return;
  }
  if (prelude !== "") await session.client.query(prelude);
  await runRevisionBody(session, script, step.direction, body, inTransaction);
}

/**
 * The version-table change and the history row in one statement (one round trip per step): each
 * row operation is a data-modifying CTE, and the counts they return are checked before COMMIT.
 */
async function recordStep(
  session: RunSession,
  step: PlanStep,
  script: RevisionScript | null,
  startedAt: Date,
): Promise<void> {
  const params: unknown[] = [];
  const param = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const operations = headChangeOperations(session.versionTable, step.headChange, param);
  const history = insertHistorySql(
    session.historyTable,
    historyEntry(session, step, script, startedAt, null),
    param,
  );
  const ctes = operations.map((op, i) => `head_${i} AS (${op.sql})`);
  const counts = operations.map((_op, i) => `(SELECT count(*) FROM head_${i})::int AS head_${i}`);
  const { rows } = await session.client.query<Record<string, number>>(
    `WITH ${[...ctes, `history AS (${history})`].join(",\n")}\nSELECT ${counts.join(", ")}`,
    params,
  );
  for (const [i, op] of operations.entries()) {
    const hit = rows[0]?.[`head_${i}`] ?? 0;
    if (hit !== 1) throw versionTableConflict(session.versionTable, step.headChange, op.what, hit);
  }
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
