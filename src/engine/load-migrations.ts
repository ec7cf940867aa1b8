import { resolve } from "node:path";
import { buildRevisionGraph } from "./graph/build-revision-graph.js";
import type { RevisionGraph } from "./graph/revision-graph.js";
import { loadRevisionDirectory } from "./script/load-revision-directory.js";
import type { RevisionScript } from "./script/revision-script.js";

/** A loaded and validated migration directory. */
export interface Migrations {
  /** Absolute path of the directory. */
  readonly dir: string;
  readonly graph: RevisionGraph<RevisionScript>;
}

/**
 * Loads every revision file of `dir` and builds the graph. Fails with a typed error on a
 * malformed file (path and line), a duplicate or invalid id, a missing down revision or a cycle.
 */
export async function loadMigrations(dir: string): Promise<Migrations> {
  const absolute = resolve(dir);
  const scripts = await loadRevisionDirectory(absolute);
  return { dir: absolute, graph: buildRevisionGraph(scripts) };
}
