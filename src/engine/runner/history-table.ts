import type pg from "pg";
import { jsonbText } from "../jsonb-text.js";
import { qualifiedName, quoteIdent } from "./sql-identifiers.js";
import type { TableRef } from "./version-table.js";

/** What the history table records of one step attempt. Append-only: rows are never updated. */
export interface HistoryEntry {
  readonly revision: string | null;
  readonly direction: "up" | "down" | "stamp";
  readonly operation: string;
  readonly checksum: string | null;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly success: boolean;
  readonly error: Record<string, unknown> | null;
  readonly jobId: string | null;
  readonly appliedBy: string | null;
  readonly headsAfter: readonly string[];
}

/** A history row as read back. */
export interface HistoryRow extends HistoryEntry {
  readonly id: number;
  readonly durationMs: number;
}

export function createHistoryTableSql({ schema, table }: TableRef): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, table)} (
    id BIGINT GENERATED ALWAYS AS IDENTITY,
    revision VARCHAR(32),
    direction TEXT NOT NULL CHECK (direction IN ('up', 'down', 'stamp')),
    operation TEXT NOT NULL,
    checksum TEXT,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    duration_ms INTEGER NOT NULL,
    success BOOLEAN NOT NULL,
    error JSONB,
    job_id TEXT,
    applied_by TEXT,
    heads_after TEXT[] NOT NULL,
    CONSTRAINT ${quoteIdent(`${table}_pkey`)} PRIMARY KEY (id)
  )`;
}

export async function appendHistory(
  client: pg.ClientBase,
  ref: TableRef,
  entry: HistoryEntry,
): Promise<void> {
  const params: unknown[] = [];
  const sql = insertHistorySql(ref, entry, (value) => {
    params.push(value);
    return `$${params.length}`;
  });
  await client.query(sql, params);
}

/** Columns of a history row given as SQL expressions instead of the entry's values. */
export type HistoryOverrides = Partial<
  Record<"started_at" | "finished_at" | "duration_ms" | "heads_after", string>
>;

/** The INSERT of one history row, its values added through `param` ($n or literals). */
export function insertHistorySql(
  ref: TableRef,
  entry: HistoryEntry,
  param: (value: unknown) => string,
  overrides: HistoryOverrides = {},
): string {
  const columns: [string, () => unknown][] = [
    ["revision", () => entry.revision],
    ["direction", () => entry.direction],
    ["operation", () => entry.operation],
    ["checksum", () => entry.checksum],
    ["started_at", () => entry.startedAt],
    ["finished_at", () => entry.finishedAt],
    ["duration_ms", () => Math.max(0, entry.finishedAt.getTime() - entry.startedAt.getTime())],
    ["success", () => entry.success],
    // A revision's own error message may hold what jsonb refuses (NUL): stored as U+FFFD.
    ["error", () => (entry.error === null ? null : jsonbText(entry.error))],
    ["job_id", () => entry.jobId],
    ["applied_by", () => entry.appliedBy],
    ["heads_after", () => [...entry.headsAfter]],
  ];
  const values = columns.map(
    ([column, value]) => overrides[column as keyof HistoryOverrides] ?? param(value()),
  );
  return `INSERT INTO ${qualifiedName(ref.schema, ref.table)}
       (${columns.map(([column]) => column).join(", ")})
     VALUES (${values.join(", ")})`;
}

/**
 * For each revision, the checksum of its latest successful upgrade: what the file looked like
 * when it was applied. Revisions that were stamped or applied by another tool have none.
 */
export async function appliedChecksums(
  client: pg.ClientBase,
  ref: TableRef,
): Promise<Map<string, string>> {
  const { rows } = await client.query<{ revision: string; checksum: string }>(
    `SELECT DISTINCT ON (revision) revision, checksum
       FROM ${qualifiedName(ref.schema, ref.table)}
      WHERE success AND direction = 'up' AND revision IS NOT NULL AND checksum IS NOT NULL
      ORDER BY revision, id DESC`,
  );
  return new Map(rows.map((r) => [r.revision, r.checksum]));
}

/** {@link appliedChecksums} of a table that may not exist yet (before a tenant's first run): none. */
export async function appliedChecksumsIfAny(
  client: pg.ClientBase,
  ref: TableRef,
): Promise<Map<string, string>> {
  return (await historyTableExists(client, ref)) ? appliedChecksums(client, ref) : new Map();
}

async function historyTableExists(client: pg.ClientBase, ref: TableRef): Promise<boolean> {
  const exists = await client.query<{ present: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS present",
    [qualifiedName(ref.schema, ref.table)],
  );
  return exists.rows[0]?.present === true;
}

/** History rows, newest first; [] when the table does not exist. */
export async function readHistoryRows(
  client: pg.ClientBase,
  ref: TableRef,
  options: { limit?: number; beforeId?: number } = {},
): Promise<HistoryRow[]> {
  if (!(await historyTableExists(client, ref))) return [];
  const { rows } = await client.query<{
    id: string;
    revision: string | null;
    direction: "up" | "down" | "stamp";
    operation: string;
    checksum: string | null;
    started_at: Date;
    finished_at: Date;
    duration_ms: number;
    success: boolean;
    error: Record<string, unknown> | null;
    job_id: string | null;
    applied_by: string | null;
    heads_after: string[];
  }>(
    `SELECT * FROM ${qualifiedName(ref.schema, ref.table)}
      WHERE ($1::bigint IS NULL OR id < $1::bigint)
      ORDER BY id DESC LIMIT $2`,
    [options.beforeId ?? null, options.limit ?? 1000],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    revision: r.revision,
    direction: r.direction,
    operation: r.operation,
    checksum: r.checksum,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    durationMs: r.duration_ms,
    success: r.success,
    error: r.error,
    jobId: r.job_id,
    appliedBy: r.applied_by,
    headsAfter: r.heads_after,
  }));
}
