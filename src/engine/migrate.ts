import type { Migrations } from "./load-migrations.js";
import { planMigration } from "./plan/plan-migration.js";
import type { Operation } from "./plan/migration-plan.js";
import { runMigration, type RunMigrationOptions, type RunResult } from "./runner/run-migration.js";

/**
 * A connection string as it may be shown or stored for display, its password masked: the
 * engine's public name for it, so callers outside the engine need no runner internals.
 */
export { redactConnectionString } from "./redact-connection-string.js";

/** Everything the runner takes except what `migrate` derives from the migration directory. */
export type MigrateOptions = Omit<RunMigrationOptions, "plan" | "scripts" | "appliedRevisions"> & {
  readonly migrations: Migrations;
  readonly operation: Operation;
  readonly target: string;
  /** Stamp only: delete every version row first (Alembic's `--purge`), in the stamp's transaction. */
  readonly purge?: boolean;
};

/**
 * Upgrades, downgrades or stamps one database. The plan is made by the runner under the
 * advisory lock from the heads it reads there, never from a stale earlier read.
 */
export function migrate(options: MigrateOptions): Promise<RunResult> {
  const { migrations, target, purge, ...runOptions } = options;
  const { graph } = migrations;
  return runMigration({
    ...runOptions,
    // The purge and the stamp commit together: a version table left empty between them would
    // send the next upgrade from base over a schema that has every revision.
    ...(purge === true ? { transactionMode: "all" as const } : {}),
    plan: (heads) =>
      planMigration(graph, { operation: options.operation, target, purge: purge ?? false }, heads),
    scripts: (id) => graph.get(id),
    appliedRevisions: (heads) => graph.appliedRevisions(heads),
  });
}
