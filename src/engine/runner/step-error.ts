import { ErrorCode, FleetwayError, isFleetwayError } from "../errors.js";
import type { Direction } from "../plan/migration-plan.js";
import { sqlStateOf } from "./connect.js";

/** Where the SQL that failed came from, to turn PostgreSQL's character position into a file line. */
export interface SqlOrigin {
  /** The SQL text sent to the server. */
  readonly sql: string;
  /** The file line of the first character of `sql`. */
  readonly line: number;
  /** True when `sql` is one statement: an error without a position still belongs to its line. */
  readonly singleStatement: boolean;
  /** Characters sent in the same query before `sql` (BEGIN and the step's timeouts). */
  readonly offset?: number;
}

export interface StepFailureContext {
  readonly revision: string;
  readonly direction: Direction;
  readonly path: string;
  /** Set while a SQL body (or one statement of it) was running. */
  readonly origin: SqlOrigin | null;
}

interface PgErrorFields {
  message: string;
  code?: string;
  position?: string;
  internalPosition?: string;
  detail?: string;
  hint?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  constraint?: string;
}

export const LOCK_NOT_AVAILABLE = "55P03";
export const DEADLOCK_DETECTED = "40P01";
export const QUERY_CANCELED = "57014";

/**
 * MIGRATION_FAILED with everything an operator needs: revision, direction, SQLSTATE, message,
 * position (1-based character in the statement text), the file and line it maps to, detail, hint.
 */
export function migrationFailed(error: unknown, context: StepFailureContext): FleetwayError {
  if (isFleetwayError(error)) return error;
  const pgError = (error ?? {}) as Partial<PgErrorFields>;
  const message = error instanceof Error ? error.message : String(error);
  const sqlstate = sqlStateOf(error);
  const origin = context.origin;
  const position =
    pgError.position === undefined ? null : Number(pgError.position) - (origin?.offset ?? 0);
  let line: number | null = null;
  if (origin !== null && position !== null)
    line = origin.line + countNewlines(origin.sql, position - 1);
  else if (origin?.singleStatement === true) line = origin.line;
  const where = line === null ? context.path : `${context.path}:${line}`;
  return new FleetwayError(
    ErrorCode.MIGRATION_FAILED,
    `${context.direction === "up" ? "Upgrade" : "Downgrade"} of ${context.revision} failed` +
      `${sqlstate === null ? "" : ` (SQLSTATE ${sqlstate})`} at ${where}: ${message}`,
    {
      revision: context.revision,
      direction: context.direction,
      path: context.path,
      sqlstate,
      message,
      position,
      line,
      detail: pgError.detail ?? null,
      hint: pgError.hint ?? null,
      where: pgError.where ?? null,
      constraint: pgError.constraint ?? null,
    },
    { cause: error },
  );
}

function countNewlines(text: string, upTo: number): number {
  let count = 0;
  const end = Math.min(text.length, Math.max(0, upTo));
  for (let i = 0; i < end; i++) if (text.charCodeAt(i) === 10) count++;
  return count;
}
