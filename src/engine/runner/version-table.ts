import type pg from "pg";
import { assertNever, ErrorCode, FleetwayError } from "../errors.js";
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
  const { rows } = await client.query<{ version_num: string }>(
    `SELECT version_num FROM ${qualifiedName(ref.schema, ref.table)} ORDER BY version_num`,
  );
  return rows.map((r) => r.version_num);
}

/**
 * Applies one head change. Every UPDATE and DELETE must hit exactly one row and every INSERT must
 * not collide: anything else means the table changed under us, which the advisory lock should
 * make impossible, so the step is rolled back rather than recording a wrong state.
 */
export async function applyHeadChangeSql(
  client: pg.ClientBase,
  ref: TableRef,
  change: HeadChange,
): Promise<void> {
  const table = qualifiedName(ref.schema, ref.table);
  const expectOne = async (sql: string, params: string[], what: string): Promise<void> => {
    const result = await client.query(sql, params);
    if (result.rowCount !== 1) {
      throw new FleetwayError(
        ErrorCode.VERSION_TABLE_CONFLICT,
        `Version table ${ref.schema}.${ref.table} changed concurrently: ${what} affected ${result.rowCount ?? 0} rows instead of 1`,
        { table: `${ref.schema}.${ref.table}`, change },
      );
    }
  };
  const insert = (v: string): Promise<void> =>
    expectOne(
      `INSERT INTO ${table} (version_num) VALUES ($1) ON CONFLICT DO NOTHING`,
      [v],
      `INSERT '${v}'`,
    );
  const remove = (v: string): Promise<void> =>
    expectOne(`DELETE FROM ${table} WHERE version_num = $1`, [v], `DELETE '${v}'`);
  const update = (from: string, to: string): Promise<void> =>
    expectOne(
      `UPDATE ${table} SET version_num = $2 WHERE version_num = $1`,
      [from, to],
      `UPDATE '${from}' -> '${to}'`,
    );
  switch (change.kind) {
    case "insert":
      return insert(change.version);
    case "delete":
      return remove(change.version);
    case "update":
      return update(change.from, change.to);
    case "merge":
      for (const v of change.delete) await remove(v);
      return update(change.from, change.to);
    case "unmerge":
      for (const v of change.insert) await insert(v);
      return update(change.from, change.to);
    default:
      return assertNever(change, "head change");
  }
}
