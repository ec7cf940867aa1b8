import type { Migrations } from "../../engine/load-migrations.js";
import type { MigrationPlan, Operation, PlanStep } from "../../engine/plan/migration-plan.js";
import { planMigration } from "../../engine/plan/plan-migration.js";
import { renderOfflineSql } from "../../engine/plan/render-offline-sql.js";
import { type CliIo, printJson, printLines } from "../cli-io.js";

export interface PlanCommandOptions {
  readonly operation: Operation;
  readonly target: string;
  /** The version table's rows to plan from; empty is base. */
  readonly from: readonly string[];
  readonly json: boolean;
  readonly sql: boolean;
  readonly schema?: string;
  readonly versionTable?: string;
  readonly transactionMode?: "per-revision" | "all";
}

/**
 * `fleetway plan`: the steps (and with `--sql` the SQL) that would run, from given heads,
 * without a database. Partial ids in `--from` are resolved to full ids.
 */
export function showPlan(io: CliIo, migrations: Migrations, options: PlanCommandOptions): void {
  const { graph } = migrations;
  const from = options.from.map((rev) => graph.getRevision(rev)?.id).filter(isString);
  const plan = planMigration(graph, { operation: options.operation, target: options.target }, from);
  const sql = options.sql
    ? renderOfflineSql(plan, graph, {
        schema: options.schema,
        versionTable: options.versionTable,
        transactionMode: options.transactionMode,
      })
    : undefined;
  if (options.json) {
    printJson(io, {
      steps: plan.steps.map(stepJson),
      heads: plan.toHeads,
      ...(sql ? { sql } : {}),
    });
    return;
  }
  if (sql !== undefined) {
    io.stdout(sql);
    return;
  }
  printLines(io, describePlan(migrations, plan));
}

function stepJson(step: PlanStep): Record<string, unknown> {
  return step.kind === "revision"
    ? { revision: step.revision, direction: step.direction }
    : { stamp: true, from: step.from, to: step.to, direction: step.direction };
}

/** Human lines in Alembic's log style, ending with the resulting heads. */
export function describePlan({ graph }: Migrations, plan: MigrationPlan): string[] {
  if (plan.steps.length === 0) {
    return [`Nothing to do: already at ${formatHeads(plan.fromHeads)}`];
  }
  const lines = plan.steps.map((step) => {
    if (step.kind === "stamp") return `Stamp ${formatHeads(step.from)} -> ${formatHeads(step.to)}`;
    const script = graph.get(step.revision);
    const down = script.downRevisions.length > 0 ? script.downRevisions.join(", ") : "<base>";
    return step.direction === "up"
      ? `Upgrade ${down} -> ${step.revision}, ${script.message}`
      : `Downgrade ${step.revision} -> ${down}, ${script.message}`;
  });
  lines.push(`Heads after: ${formatHeads(plan.toHeads)}`);
  return lines;
}

export function formatHeads(heads: readonly string[]): string {
  return heads.length === 0 ? "<base>" : heads.join(", ");
}

function isString(value: string | undefined): value is string {
  return value !== undefined;
}
