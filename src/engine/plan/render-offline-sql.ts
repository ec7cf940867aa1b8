import { assertNever } from "../errors.js";
import type { RevisionGraph } from "../graph/revision-graph.js";
import type { MigrationBody, RevisionScript } from "../script/revision-script.js";
import { quoteIdent, quoteLiteral } from "../runner/sql-identifiers.js";
import { createVersionTableSql } from "../runner/version-table.js";
import type { HeadChange, MigrationPlan, PlanStep } from "./migration-plan.js";
import { refuseNonTransactionalInAllMode } from "./refuse-non-transactional.js";

export interface OfflineSqlOptions {
  readonly schema?: string;
  readonly versionTable?: string;
  readonly transactionMode?: "per-revision" | "all";
}

/**
 * Alembic's `--sql`: the exact SQL a plan runs, for review, with the version table statements
 * in their place. Module (`.ts`/`.js`) revisions compute their SQL when they run, so they
 * appear as a comment. History rows and the advisory lock are the runner's bookkeeping and
 * are not part of the script.
 */
export function renderOfflineSql(
  plan: MigrationPlan,
  graph: RevisionGraph<RevisionScript>,
  options: OfflineSqlOptions = {},
): string {
  const schema = options.schema ?? "public";
  const versionTable = options.versionTable ?? "fleetway_version";
  const table = quoteIdent(versionTable);
  const all = options.transactionMode === "all";
  if (all) refuseNonTransactionalInAllMode(plan.steps, (id) => graph.get(id));
  const out: string[] = [
    `-- Fleetway offline SQL: ${plan.operation} ${plan.target} from ${formatHeads(plan.fromHeads)} to ${formatHeads(plan.toHeads)}`,
    "",
  ];
  out.push(
    schema === "public"
      ? "SET search_path TO public;"
      : `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)};\nSET search_path TO ${quoteIdent(schema)}, public;`,
    "",
    `${createVersionTableSql({ schema, table: versionTable })};`,
    "",
  );
  if (all) out.push("BEGIN;", "");
  for (const step of plan.steps) {
    const script = step.kind === "revision" ? graph.get(step.revision) : null;
    const inTransaction = !all && (script === null || script.transactional);
    out.push(`-- ${describeStep(step, script)}`);
    if (inTransaction) out.push("BEGIN;");
    if (script !== null && step.kind === "revision") {
      out.push(bodySql(step.direction === "up" ? script.upgrade : script.downgrade, script));
    }
    out.push(...headChangeSql(step.headChange, table));
    if (inTransaction) out.push("COMMIT;");
    out.push("");
  }
  if (all) out.push("COMMIT;", "");
  return out.join("\n");
}

function describeStep(step: PlanStep, script: RevisionScript | null): string {
  if (step.kind === "stamp") {
    return `Stamp ${formatHeads(step.from)} -> ${formatHeads(step.to)}`;
  }
  const down = script?.downRevisions.length ? script.downRevisions.join(", ") : "<base>";
  const arrow =
    step.direction === "up" ? `${down} -> ${step.revision}` : `${step.revision} -> ${down}`;
  const verb = step.direction === "up" ? "upgrade" : "downgrade";
  return `Running ${verb} ${arrow}, ${script?.message ?? ""}`;
}

function bodySql(body: MigrationBody | null, script: RevisionScript): string {
  if (body === null) return `-- ${script.id} has no downgrade`;
  switch (body.kind) {
    case "sql": {
      const sql = body.sql.trim();
      if (sql.length === 0) return "-- (no statements)";
      return /;\s*$/.test(sql) ? sql : `${sql};`;
    }
    case "function":
      return `-- ${script.path} is a code revision: its statements are only known when it runs`;
    default:
      return assertNever(body, "migration body");
  }
}

/** The version table statements of one head change, as the runner issues them. */
export function headChangeSql(change: HeadChange, table: string): string[] {
  const insert = (v: string): string =>
    `INSERT INTO ${table} (version_num) VALUES (${quoteLiteral(v)});`;
  const remove = (v: string): string =>
    `DELETE FROM ${table} WHERE version_num = ${quoteLiteral(v)};`;
  const update = (from: string, to: string): string =>
    `UPDATE ${table} SET version_num = ${quoteLiteral(to)} WHERE version_num = ${quoteLiteral(from)};`;
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

function formatHeads(heads: readonly string[]): string {
  return heads.length === 0 ? "<base>" : heads.join(", ");
}
