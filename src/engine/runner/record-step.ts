import pg from "pg";
import { ErrorCode, FleetwayError } from "../errors.js";
import type { HeadChange, PlanStep } from "../plan/migration-plan.js";
import { sqlStateOf } from "./connect.js";
import { insertHistorySql, type HistoryEntry } from "./history-table.js";
import { headChangeOperations, type TableRef } from "./version-table.js";

/** How values enter a statement: as parameters (`$3`) or as escaped literals (simple queries). */
export interface SqlValues {
  add(value: unknown): string;
  readonly params: unknown[];
}

export function parameters(): SqlValues {
  const params: unknown[] = [];
  return {
    params,
    add(value) {
      params.push(value);
      return `$${params.length}`;
    },
  };
}

/**
 * Values written into the SQL text, for a simple query (which cannot carry parameters but can
 * carry several statements). Strings go through pg's escapeLiteral.
 */
export function literals(): SqlValues {
  return { params: [], add: toLiteral };
}

function toLiteral(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "boolean") return value ? "TRUE" : "FALSE";
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "string") return pg.escapeLiteral(value);
  if (value instanceof Date) return `${pg.escapeLiteral(value.toISOString())}::timestamptz`;
  if (Array.isArray(value)) return `ARRAY[${value.map(toLiteral).join(", ")}]::text[]`;
  throw new TypeError(`No SQL literal for ${typeof value}`);
}

/**
 * The bookkeeping of a successful step as ONE statement: the version-table change (each row
 * operation a data-modifying CTE) and the history row. The history row's `heads_after` is read
 * through the cross join of the row operations, so if any of them did not hit exactly one row it
 * is NULL and the column's NOT NULL constraint fails the statement. That check needs no function
 * and no round trip of its own, so COMMIT may follow in the same query: a version table changed
 * behind the advisory lock's back can never be committed over.
 *
 * `serverClock`: the step's start and end come from the server (the query's arrival and now), for
 * when the statement is sent with the step's own SQL and its end is not known beforehand.
 */
export function recordStepSql(
  versionTable: TableRef,
  historyTable: TableRef,
  step: PlanStep,
  entry: HistoryEntry,
  values: SqlValues,
  serverClock: boolean,
): string {
  const operations = headChangeOperations(versionTable, step.headChange, (v) => values.add(v));
  const guarded = `(SELECT ${values.add([...entry.headsAfter])}::text[] FROM ${operations
    .map((_op, i) => `head_${i}`)
    .join(" CROSS JOIN ")})`;
  const history = insertHistorySql(historyTable, entry, (v) => values.add(v), {
    heads_after: guarded,
    ...(serverClock
      ? {
          started_at: "statement_timestamp()",
          finished_at: "clock_timestamp()",
          duration_ms:
            "GREATEST(0, (extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)::int)",
        }
      : {}),
  });
  const ctes = operations.map((op, i) => `head_${i} AS (${op.sql})`);
  return `WITH ${ctes.join(",\n     ")}\n${history}`;
}

/** The statement of {@link recordStepSql} failed on its guard: the version table was not as planned. */
export function isRecordStepConflict(error: unknown, historyTable: TableRef): boolean {
  const cause = error instanceof FleetwayError ? error.cause : error;
  if (sqlStateOf(cause) !== "23502") return false;
  const fields = cause as { column?: string; table?: string };
  return fields.column === "heads_after" && fields.table === historyTable.table;
}

export function recordStepConflict(
  versionTable: TableRef,
  change: HeadChange,
  cause: unknown,
): FleetwayError {
  const operations = headChangeOperations(versionTable, change, String)
    .map((op) => op.what)
    .join(", ");
  return new FleetwayError(
    ErrorCode.VERSION_TABLE_CONFLICT,
    `Version table ${versionTable.schema}.${versionTable.table} changed concurrently: ${operations} did not affect exactly one row each`,
    { table: `${versionTable.schema}.${versionTable.table}`, change },
    { cause },
  );
}
