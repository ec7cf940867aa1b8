import type pg from "pg";
import type { Operation } from "../plan/migration-plan.js";
import type { RunProgressEvent, TransactionMode } from "./run-options.js";
import type { TableRef } from "./version-table.js";

/** Everything the step executor needs about the run it belongs to, resolved once. */
export interface RunSession {
  readonly client: pg.ClientBase;
  readonly schema: string;
  readonly versionTable: TableRef;
  readonly historyTable: TableRef;
  readonly operation: Operation;
  readonly transactionMode: TransactionMode;
  readonly lockTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly lockTimeoutRetries: number;
  readonly jobId: string | null;
  readonly appliedBy: string | null;
  readonly signal: AbortSignal;
  readonly emit: (event: RunProgressEvent) => void;
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random: () => number;
}

/**
 * Sets the step's timeouts. `local` scopes them to the current transaction; outside one (a
 * non-transactional revision) they are set for the session and reset afterwards. 0 disables.
 */
export async function setStepTimeouts(session: RunSession, local: boolean): Promise<void> {
  await session.client.query(
    "SELECT set_config('lock_timeout', $1, $3), set_config('statement_timeout', $2, $3)",
    [`${session.lockTimeoutMs}ms`, `${session.statementTimeoutMs}ms`, local],
  );
}

/**
 * BEGIN and the step's timeouts as the start of a simple multi-statement query: sent alone, or
 * with the step's SQL after it. The values are integers the runner owns, so inlining them is safe.
 * No newline, so line numbers in the SQL that follows are unchanged.
 */
export function beginStepSql(
  session: Pick<RunSession, "lockTimeoutMs" | "statementTimeoutMs">,
): string {
  const lock = Math.max(0, Math.trunc(session.lockTimeoutMs));
  const statement = Math.max(0, Math.trunc(session.statementTimeoutMs));
  return `BEGIN; SET LOCAL lock_timeout = '${lock}ms'; SET LOCAL statement_timeout = '${statement}ms'; `;
}

/** Undoes the session-level timeouts of a step run outside a transaction. */
export const RESET_STEP_TIMEOUTS_SQL = "RESET lock_timeout; RESET statement_timeout";

export async function resetStepTimeouts(session: RunSession): Promise<void> {
  await session.client.query(RESET_STEP_TIMEOUTS_SQL);
}
