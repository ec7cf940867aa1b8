import { readFile } from "node:fs/promises";
import { ErrorCode, FleetwayError } from "../errors.js";
import { revisionChecksum } from "./checksum.js";
import {
  createModuleImporter,
  type ModuleImporter,
  type ModuleNamespace,
} from "./module-importer.js";
import type { MigrationBody, MigrationContext, RevisionScript } from "./revision-script.js";

/**
 * The named exports of a `.ts`/`.js` revision: the `.sql` header's fields under the same
 * (Alembic) names, plus the two directions as functions.
 *
 * ```ts
 * export const revision = "3f2a9c1b7d10";
 * export const down_revision = "1a2b3c4d5e6f"; // null for a root, an array for a merge
 * export const message = "backfill phones";
 * export async function upgrade(ctx: MigrationContext): Promise<void> {
 *   await ctx.query("UPDATE users SET phone = '' WHERE phone IS NULL");
 * }
 * ```
 */
export interface RevisionModule {
  readonly revision: string;
  /** Null for a root revision; several ids for a merge. Required, like Alembic's. */
  readonly down_revision: string | readonly string[] | null;
  readonly message?: string;
  readonly branch_labels?: string | readonly string[];
  /** Revision ids or branch labels. */
  readonly depends_on?: string | readonly string[];
  /** False to run outside a transaction. Defaults to true. */
  readonly transactional?: boolean;
  upgrade(ctx: MigrationContext): Promise<void>;
  /** Absent when the revision cannot be undone. */
  downgrade?(ctx: MigrationContext): Promise<void>;
}

/** Extensions loaded as modules; the TypeScript ones go through tsx. */
export const MODULE_EXTENSIONS = [".ts", ".mts", ".js", ".mjs"] as const;

/** camelCase spellings that would otherwise be silently ignored. */
const MISSPELLED_EXPORTS: Readonly<Record<string, string>> = {
  downRevision: "down_revision",
  down_revisions: "down_revision",
  branchLabels: "branch_labels",
  dependsOn: "depends_on",
};

export interface LoadModuleRevisionOptions {
  /**
   * Shares one tsx registration between many loads (see {@link createModuleImporter}); the
   * caller closes it. Without it, the load uses and closes an importer of its own.
   */
  readonly importer?: ModuleImporter;
}

/**
 * Loads a `.ts`, `.mts`, `.js` or `.mjs` revision and validates its {@link RevisionModule} exports.
 * Its checksum is that of its source text.
 *
 * @throws FleetwayError `SCRIPT_LOAD_ERROR` with data `{ path, reason }` when the file cannot be
 *   read or imported (`cause` set) or an export is missing or of the wrong type
 */
export async function loadModuleRevision(
  path: string,
  options: LoadModuleRevisionOptions = {},
): Promise<RevisionScript> {
  let source: string;
  try {
    source = await readFile(path, "utf8");
  } catch (error: unknown) {
    throw loadError(path, `cannot read the file: ${describe(error)}`, error);
  }
  const checksum = revisionChecksum(source);
  const importer = options.importer ?? createModuleImporter();
  let mod: ModuleNamespace;
  try {
    mod = await importer.import(path, checksum);
  } catch (error: unknown) {
    throw loadError(path, `cannot import the module: ${describe(error)}`, error);
  } finally {
    if (options.importer === undefined) await importer.close();
  }
  return toRevisionScript(mod, path, checksum);
}

function toRevisionScript(mod: ModuleNamespace, path: string, checksum: string): RevisionScript {
  checkMisspellings(mod, path);
  const downgrade = mod.downgrade;
  if (downgrade !== undefined && typeof downgrade !== "function") {
    throw loadError(path, `export 'downgrade' must be a function, not ${typeName(downgrade)}`);
  }
  return {
    id: requireRevision(mod, path),
    downRevisions: requireDownRevision(mod, path),
    message: optionalString(mod, "message", path) ?? "",
    branchLabels: optionalIds(mod, "branch_labels", path),
    dependsOn: optionalIds(mod, "depends_on", path),
    transactional: optionalBoolean(mod, "transactional", path) ?? true,
    path,
    format: "module",
    checksum,
    upgrade: functionBody(requireFunction(mod, "upgrade", path)),
    downgrade: downgrade === undefined ? null : functionBody(downgrade),
  };
}

function checkMisspellings(mod: ModuleNamespace, path: string): void {
  for (const [wrong, right] of Object.entries(MISSPELLED_EXPORTS)) {
    if (wrong in mod) throw loadError(path, `unknown export '${wrong}'; did you mean '${right}'?`);
  }
}

function requireRevision(mod: ModuleNamespace, path: string): string {
  const revision = mod.revision;
  if (revision === undefined) {
    const hint =
      isRecord(mod.default) && "revision" in mod.default
        ? " (use named exports, not a default export)"
        : "";
    throw loadError(path, `missing export 'revision'${hint}`);
  }
  if (typeof revision !== "string" || revision === "") {
    throw loadError(
      path,
      `export 'revision' must be a non-empty string, not ${typeName(revision)}`,
    );
  }
  return revision;
}

function requireDownRevision(mod: ModuleNamespace, path: string): string[] {
  const value = mod.down_revision;
  if (value === undefined) {
    throw loadError(path, "missing export 'down_revision' (null for a root revision)");
  }
  if (value === null) return [];
  return idList(value, "down_revision", path);
}

function optionalIds(mod: ModuleNamespace, name: string, path: string): string[] {
  const value = mod[name];
  return value === undefined || value === null ? [] : idList(value, name, path);
}

/** A non-empty string, or an array of them. */
function idList(value: unknown, name: string, path: string): string[] {
  const items: unknown[] = Array.isArray(value) ? value : [value];
  if (items.every((item): item is string => typeof item === "string" && item !== "")) return items;
  throw loadError(
    path,
    `export '${name}' must be a non-empty string or an array of them, not ${typeName(value)}`,
  );
}

function optionalString(mod: ModuleNamespace, name: string, path: string): string | undefined {
  const value = mod[name];
  if (value === undefined || typeof value === "string") return value;
  throw loadError(path, `export '${name}' must be a string, not ${typeName(value)}`);
}

function optionalBoolean(mod: ModuleNamespace, name: string, path: string): boolean | undefined {
  const value = mod[name];
  if (value === undefined || typeof value === "boolean") return value;
  throw loadError(path, `export '${name}' must be true or false, not ${typeName(value)}`);
}

function requireFunction(mod: ModuleNamespace, name: string, path: string): unknown {
  const value = mod[name];
  if (typeof value === "function") return value;
  throw loadError(
    path,
    value === undefined
      ? `missing export '${name}'`
      : `export '${name}' must be a function, not ${typeName(value)}`,
  );
}

/** Awaits whatever the function returns, so a synchronous one works too. */
function functionBody(fn: unknown): MigrationBody {
  const call = fn as (ctx: MigrationContext) => unknown;
  return {
    kind: "function",
    run: async (ctx) => {
      await call(ctx);
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (value === "") return "an empty string";
  if (Array.isArray(value)) {
    const bad: unknown = value.find((item) => typeof item !== "string" || item === "");
    return `an array holding ${typeName(bad)}`;
  }
  const type = typeof value;
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function loadError(path: string, reason: string, cause?: unknown): FleetwayError {
  return new FleetwayError(
    ErrorCode.SCRIPT_LOAD_ERROR,
    `${path}: ${reason}`,
    { path, reason },
    cause === undefined ? undefined : { cause },
  );
}
