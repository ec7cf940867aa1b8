import { readdir, readFile, stat } from "node:fs/promises";
import type { Dirent } from "node:fs";
import { extname, join } from "node:path";
import { ErrorCode, FleetwayError } from "../errors.js";
import { loadModuleRevision, MODULE_EXTENSIONS } from "./load-module-revision.js";
import { createModuleImporter, type ModuleImporter } from "./module-importer.js";
import { parseSqlRevision } from "./parse-sql-revision.js";
import type { RevisionScript } from "./revision-script.js";

/** File extensions that hold a revision. */
export const REVISION_EXTENSIONS: readonly string[] = [".sql", ...MODULE_EXTENSIONS];

/**
 * True for a file name `loadRevisionDirectory` loads: a revision extension, not a declaration
 * file (`*.d.ts`), not a dotfile, and not starting with `_` (helpers shared by module revisions).
 */
export function isRevisionFileName(name: string): boolean {
  return (
    REVISION_EXTENSIONS.includes(extname(name)) &&
    !/\.d\.m?ts$/.test(name) &&
    !name.startsWith(".") &&
    !name.startsWith("_")
  );
}

/**
 * Loads every revision file directly in `dir` (not in subdirectories), in file-name order.
 * Only files are read; the graph, not this function, checks ids and links between revisions.
 *
 * @throws FleetwayError `SCRIPT_LOAD_ERROR` when `dir` is missing or unreadable, and the first
 *   (in file-name order) `SCRIPT_PARSE_ERROR`/`SCRIPT_LOAD_ERROR` of its files
 */
export async function loadRevisionDirectory(dir: string): Promise<RevisionScript[]> {
  const names = await listRevisionFiles(dir);
  const importer = createModuleImporter();
  // Files load concurrently, but the error reported is the first in name order, so that the
  // same broken directory always gives the same message.
  const results = await Promise.allSettled(
    names.map((name) => loadRevisionFile(join(dir, name), importer)),
  );
  await importer.close();
  return results.map((result) => {
    if (result.status === "rejected") throw result.reason;
    return result.value;
  });
}

async function listRevisionFiles(dir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error: unknown) {
    throw directoryError(dir, error);
  }
  const names: string[] = [];
  for (const entry of entries) {
    if (isRevisionFileName(entry.name) && (await isFile(dir, entry))) names.push(entry.name);
  }
  // Code-unit order, not localeCompare: the same on every machine whatever its locale.
  return names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Files, and symbolic links to files. */
async function isFile(dir: string, entry: Dirent): Promise<boolean> {
  if (entry.isFile()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return (await stat(join(dir, entry.name))).isFile();
  } catch {
    return false; // a dangling link is not a revision
  }
}

async function loadRevisionFile(path: string, importer: ModuleImporter): Promise<RevisionScript> {
  if (extname(path) !== ".sql") return loadModuleRevision(path, { importer });
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error: unknown) {
    throw new FleetwayError(
      ErrorCode.SCRIPT_LOAD_ERROR,
      `${path}: cannot read the file: ${describe(error)}`,
      { path, reason: `cannot read the file: ${describe(error)}` },
      { cause: error },
    );
  }
  return parseSqlRevision(text, path);
}

function directoryError(dir: string, error: unknown): FleetwayError {
  const code = (error as { code?: unknown } | null)?.code;
  const reason =
    code === "ENOENT"
      ? "the migrations directory does not exist; run 'fleetway init' to create it"
      : code === "ENOTDIR"
        ? "not a directory"
        : `cannot read the directory: ${describe(error)}`;
  return new FleetwayError(
    ErrorCode.SCRIPT_LOAD_ERROR,
    `${dir}: ${reason}`,
    { path: dir, reason },
    { cause: error },
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
