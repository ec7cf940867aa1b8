/**
 * The example migration set as plain SQL steps in upgrade order, for the contenders that run SQL
 * directly (the floor and the peer tool). The one code revision gets its SQL equivalent.
 */
import { loadMigrations } from "../../src/engine/load-migrations.js";
import { planMigration } from "../../src/engine/plan/plan-migration.js";

export interface SqlStep {
  readonly id: string;
  readonly up: string;
  readonly down: string;
  readonly transactional: boolean;
}

/** What 1a0000000003's upgrade does, in one statement (its tables are empty in the benchmarks). */
const CODE_REVISION_SQL: Readonly<Record<string, { up: string; down: string }>> = {
  "1a0000000003": {
    up: "UPDATE users SET display_name = split_part(email, '@', 1) WHERE display_name IS NULL;",
    down: "UPDATE users SET display_name = NULL WHERE display_name IS NOT NULL;",
  },
};

export async function exampleSqlSteps(
  dir = new URL("../../migrations", import.meta.url).pathname,
): Promise<SqlStep[]> {
  const { graph } = await loadMigrations(dir);
  const plan = planMigration(graph, { operation: "upgrade", target: "heads", purge: false }, []);
  return plan.steps.flatMap((step) => {
    if (step.kind !== "revision") return [];
    const script = graph.get(step.revision);
    const code = CODE_REVISION_SQL[script.id];
    const up = script.upgrade.kind === "sql" ? script.upgrade.sql : code?.up;
    const down = script.downgrade?.kind === "sql" ? script.downgrade.sql : code?.down;
    if (up === undefined || down === undefined)
      throw new Error(`no SQL for code revision ${script.id}`);
    return [{ id: script.id, up, down, transactional: script.transactional }];
  });
}
