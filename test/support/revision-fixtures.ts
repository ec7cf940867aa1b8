/**
 * Literal revision directories for runner tests: each revision becomes a `.sql` file in a fresh
 * temporary directory, loaded through the real loader and graph builder.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadMigrations, type Migrations } from "../../src/engine/load-migrations.js";
import { migrate, type MigrateOptions } from "../../src/engine/migrate.js";
import type { RunResult } from "../../src/engine/runner/run-migration.js";

export interface FixtureRevision {
  readonly id: string;
  /** Down revisions; empty for a root. */
  readonly down?: readonly string[];
  readonly up: string;
  /** Omitted: the file has no downgrade section. */
  readonly downgrade?: string;
  readonly transactional?: boolean;
  readonly branchLabels?: readonly string[];
}

export function sqlRevisionFile(revision: FixtureRevision): string {
  const down =
    revision.down === undefined || revision.down.length === 0 ? "none" : revision.down.join(", ");
  const lines = [
    `-- revision: ${revision.id}`,
    `-- down_revision: ${down}`,
    `-- message: ${revision.id}`,
  ];
  if (revision.branchLabels !== undefined)
    lines.push(`-- branch_labels: ${revision.branchLabels.join(", ")}`);
  if (revision.transactional === false) lines.push("-- transactional: false");
  lines.push("", "-- upgrade", revision.up, "");
  if (revision.downgrade !== undefined) lines.push("-- downgrade", revision.downgrade, "");
  return lines.join("\n");
}

export interface RevisionDir {
  readonly dir: string;
  /** (Re)writes one revision file, e.g. to change an applied revision. */
  write(revision: FixtureRevision): Promise<void>;
  load(): Promise<Migrations>;
  /** Loads the directory afresh and migrates one database with it. */
  run(options: Omit<MigrateOptions, "migrations">): Promise<RunResult>;
  remove(): Promise<void>;
}

export async function revisionDir(revisions: readonly FixtureRevision[]): Promise<RevisionDir> {
  const dir = await mkdtemp(join(tmpdir(), "fleetway-revisions-"));
  const write = (revision: FixtureRevision): Promise<void> =>
    writeFile(join(dir, `${revision.id}.sql`), sqlRevisionFile(revision));
  for (const revision of revisions) await write(revision);
  const load = (): Promise<Migrations> => loadMigrations(dir);
  return {
    dir,
    write,
    load,
    run: async (options) => migrate({ ...options, migrations: await load() }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A reversible revision creating table `t_<id>`. */
export function tableRevision(
  id: string,
  down: readonly string[] = [],
  extra: Partial<FixtureRevision> = {},
): FixtureRevision {
  return {
    id,
    down,
    up: `CREATE TABLE t_${id} (id int);`,
    downgrade: `DROP TABLE t_${id};`,
    ...extra,
  };
}
