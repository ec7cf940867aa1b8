import type pg from "pg";
import { assertNever } from "../errors.js";
import type { HeadChange } from "../plan/migration-plan.js";
import { qualifiedName, quoteIdent } from "./sql-identifiers.js";

/** A schema-qualified table the runner reads and writes. */
export interface TableRef {
  readonly schema: string;
  readonly table: string;
}

/**
 * Alembic's layout exactly (`version_num VARCHAR(32) NOT NULL`, primary key named `<table>_pkc`),
 * so an `alembic_version` table is adopted as is and Alembic can read ours.
 */
export function createVersionTableSql({ schema, table }: TableRef): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(schema, table)} (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT ${quoteIdent(`${table}_pkc`)} PRIMARY KEY (version_num)
  )`;
}

/** The version table's rows, sorted; [] when the table does not exist yet. */
export async function readVersionRows(client: pg.ClientBase, ref: TableRef): Promise<string[]> {
  const exists = await client.query<{ present: boolean }>(
    "SELECT to_regclass($1) IS NOT NULL AS present",
    [qualifiedName(ref.schema, ref.table)],
  );
  if (exists.rows[0]?.present !== true) return [];
  return selectVersionRows(client, ref);
}

/** The statement reading the version table's rows (`version_num`), sorted. */
export function selectVersionRowsSql(ref: TableRef): string {
  return `SELECT version_num FROM ${qualifiedName(ref.schema, ref.table)} ORDER BY version_num`;
}

/** The version table's rows, sorted, from a table known to exist. */
export async function selectVersionRows(client: pg.ClientBase, ref: TableRef): Promise<string[]> {
  const { rows } = await client.query<{ version_num: string }>(selectVersionRowsSql(ref));
  return rows.map((r) => r.version_num);
}

/** Adds a query parameter and returns its placeholder (`$3`). */
export type AddParam = (value: unknown) => string;

/** One row operation of a head change: a data-modifying CTE body returning 1 per row it hits. */
export interface HeadChangeOperation {
  readonly sql: string;
  /** How the error names it when it does not hit exactly one row. */
  readonly what: string;
}

/**
 * The row operations of one head change. Every UPDATE and DELETE must hit exactly one row and
 * every INSERT must not collide: anything else means the table changed under us, which the
 * advisory lock should make impossible, so the step is rolled back rather than recording a wrong
 * state (see record-step.ts).
 */
export function headChangeOperations(
  ref: TableRef,
  change: HeadChange,
  param: AddParam,
): HeadChangeOperation[] {
  const table = qualifiedName(ref.schema, ref.table);
  const insert = (v: string): HeadChangeOperation => ({
    sql: `INSERT INTO ${table} (version_num) VALUES (${param(v)}) ON CONFLICT DO NOTHING RETURNING 1`,
    what: `INSERT '${v}'`,
  });
  const remove = (v: string): HeadChangeOperation => ({
    sql: `DELETE FROM ${table} WHERE version_num = ${param(v)} RETURNING 1`,
    what: `DELETE '${v}'`,
  });
  const update = (from: string, to: string): HeadChangeOperation => ({
    sql: `UPDATE ${table} SET version_num = ${param(to)} WHERE version_num = ${param(from)} RETURNING 1`,
    what: `UPDATE '${from}' -> '${to}'`,
  });
  switch (change.kind) {
    case "insert":
      return [insert(change.version)];
    case "delete":
      return [remove(change.version)];
    case "update":
      return [update(change.from, change.to)];
    case "merge":
      return [...change.delete.map(remove), update(change.from, change.to)];
    case "unmerge":
      return [...change.insert.map(insert), update(change.from, change.to)];
    case "purge":
      return change.delete.map(remove);
    default:
      return assertNever(change, "head change");
  }
}
