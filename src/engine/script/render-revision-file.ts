import { assertNever } from "../errors.js";

/** What `fleetway revision` / `fleetway merge` put in a new revision file. */
export interface RenderRevisionOptions {
  readonly format: "sql" | "ts";
  readonly id: string;
  /** Empty for a new root; several for a merge. */
  readonly downRevisions: readonly string[];
  readonly message: string;
  readonly branchLabels?: readonly string[];
  readonly dependsOn?: readonly string[];
  /** Written for humans only (`create_date` / "Create Date"); never read back. */
  readonly createdAt: Date;
}

export interface RenderedRevisionFile {
  /** `<id>_<slug of message>.sql|.ts` */
  readonly fileName: string;
  readonly content: string;
}

/**
 * The text of a new revision file. It parses (`.sql`) or loads (`.ts`) back to the same id,
 * down revisions, message, branch labels and dependencies. The message is written on one line.
 */
export function renderRevisionFile(options: RenderRevisionOptions): RenderedRevisionFile {
  const slug = slugifyMessage(options.message);
  const base = slug === "" ? options.id : `${options.id}_${slug}`;
  switch (options.format) {
    case "sql":
      return { fileName: `${base}.sql`, content: renderSql(options) };
    case "ts":
      return { fileName: `${base}.ts`, content: renderTs(options) };
    default:
      return assertNever(options.format, "revision file format");
  }
}

/** Lowercase, runs of anything but `a-z0-9` as one `_`, at most `maxLength` characters. */
export function slugifyMessage(message: string, maxLength = 40): string {
  const trimUnderscores = (text: string) => text.replace(/^_+|_+$/g, "");
  const slug = trimUnderscores(message.toLowerCase().replace(/[^a-z0-9]+/g, "_"));
  return trimUnderscores(slug.slice(0, maxLength));
}

function renderSql(options: RenderRevisionOptions): string {
  const header = [
    `-- revision: ${options.id}`,
    `-- down_revision: ${options.downRevisions.length === 0 ? "none" : options.downRevisions.join(", ")}`,
    `-- message: ${oneLine(options.message)}`,
  ];
  if (options.branchLabels?.length)
    header.push(`-- branch_labels: ${options.branchLabels.join(", ")}`);
  if (options.dependsOn?.length) header.push(`-- depends_on: ${options.dependsOn.join(", ")}`);
  header.push(`-- create_date: ${options.createdAt.toISOString()}`);
  return [
    ...header,
    "",
    "-- upgrade",
    "-- Write the upgrade SQL here.",
    "",
    "-- downgrade",
    "-- Write the SQL that undoes the upgrade here; delete this section if it cannot be undone.",
    "",
  ].join("\n");
}

function renderTs(options: RenderRevisionOptions): string {
  const down = options.downRevisions;
  const downLiteral =
    down.length === 0 ? "null" : down.length === 1 ? JSON.stringify(down[0]) : stringArray(down);
  const exports = [
    `export const revision = ${JSON.stringify(options.id)};`,
    `export const down_revision: string | string[] | null = ${downLiteral};`,
    `export const message = ${JSON.stringify(oneLine(options.message))};`,
  ];
  if (options.branchLabels?.length) {
    exports.push(`export const branch_labels = ${stringArray(options.branchLabels)};`);
  }
  if (options.dependsOn?.length) {
    exports.push(`export const depends_on = ${stringArray(options.dependsOn)};`);
  }
  return [
    "/**",
    ` * ${oneLine(options.message).replaceAll("*/", "*\\/")}`,
    " *",
    ` * Revision ID: ${options.id}`,
    ` * Revises: ${down.length === 0 ? "<base>" : down.join(", ")}`,
    ` * Create Date: ${options.createdAt.toISOString()}`,
    " */",
    "",
    "/** What upgrade and downgrade receive (declared here: revisions load without Fleetway's package). */",
    "interface MigrationContext {",
    "  query(",
    "    sql: string,",
    "    params?: readonly unknown[],",
    "  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number }>;",
    "  readonly schema: string;",
    "  readonly signal: AbortSignal;",
    "  log(message: string): void;",
    "}",
    "",
    ...exports,
    "",
    "export async function upgrade(ctx: MigrationContext): Promise<void> {",
    '  // await ctx.query("...");',
    "}",
    "",
    "// Delete downgrade if the upgrade cannot be undone.",
    "export async function downgrade(ctx: MigrationContext): Promise<void> {",
    '  // await ctx.query("...");',
    "}",
    "",
  ].join("\n");
}

function stringArray(items: readonly string[]): string {
  return `[${items.map((item) => JSON.stringify(item)).join(", ")}]`;
}

/** Header values and doc comments are one line: line breaks become spaces. */
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, " ").trim();
}
