import { ErrorCode, FleetwayError } from "../../engine/errors.js";
import { isAtAllHeads } from "../../engine/graph/is-at-all-heads.js";
import type { Migrations } from "../../engine/load-migrations.js";
import { migrate } from "../../engine/migrate.js";
import type { Operation } from "../../engine/plan/migration-plan.js";
import type {
  RunProgressEvent,
  RunResult,
  StepRetryCause,
} from "../../engine/runner/run-migration.js";
import { redactConnectionString } from "../../engine/redact-connection-string.js";
import { RUN_DEFAULTS } from "../../engine/runner/run-options.js";
import { readCurrentHeads } from "../../engine/runner/run-migration.js";
import { type CliIo, printJson, printLines } from "../cli-io.js";
import { formatRevisionEntry, formatRevisionLine, revisionJson } from "../format-revision.js";
import { formatHeads } from "./plan-command.js";

/** Where and how to reach the one database a local verb works on. */
export interface DatabaseOptions {
  readonly databaseUrl: string;
  readonly schema: string;
  readonly versionTable: string;
}

export interface RunCommandOptions extends DatabaseOptions {
  readonly operation: Operation;
  readonly target: string;
  readonly json: boolean;
  readonly purge: boolean;
  readonly transactionMode: "per-revision" | "all";
  readonly lockTimeoutMs?: number;
  readonly statementTimeoutMs?: number;
  readonly advisoryLockTimeoutMs?: number;
  readonly allowChecksumMismatch: boolean;
  readonly signal: AbortSignal;
}

/** `fleetway upgrade|downgrade|stamp`: runs the plan on the database, narrating each step. */
export async function runOnDatabase(
  io: CliIo,
  migrations: Migrations,
  options: RunCommandOptions,
): Promise<RunResult> {
  const result = await migrate({
    migrations,
    operation: options.operation,
    target: options.target,
    purge: options.purge,
    connectionString: options.databaseUrl,
    schema: options.schema,
    versionTable: options.versionTable,
    transactionMode: options.transactionMode,
    lockTimeoutMs: options.lockTimeoutMs,
    statementTimeoutMs: options.statementTimeoutMs,
    advisoryLockTimeoutMs: options.advisoryLockTimeoutMs,
    allowChecksumMismatch: options.allowChecksumMismatch,
    appliedBy: `cli:${io.env.USER ?? "unknown"}`,
    applicationName: "fleetway-cli",
    signal: options.signal,
    onProgress: (event) => {
      narrate(io, migrations, event);
    },
  });
  if (options.json) {
    printJson(io, {
      fromHeads: result.fromHeads,
      heads: result.toHeads,
      steps: result.plan.steps.map((s) =>
        s.kind === "revision"
          ? { revision: s.revision, direction: s.direction }
          : { stamp: true, from: s.from, to: s.to, direction: s.direction },
      ),
    });
  } else {
    io.stderr(
      result.plan.steps.length === 0
        ? `Nothing to do: already at ${formatHeads(result.fromHeads)}\n`
        : `Done: ${formatHeads(result.fromHeads)} -> ${formatHeads(result.toHeads)}\n`,
    );
  }
  return result;
}

/** How the narration names why a step is run again. */
const RETRY_CAUSES: Record<StepRetryCause, string> = {
  "lock-timeout": "lock_timeout hit",
  deadlock: "deadlock (chosen as the victim)",
};

/** Progress goes to stderr so `--json` output on stdout stays machine-readable. */
function narrate(io: CliIo, { graph }: Migrations, event: RunProgressEvent): void {
  switch (event.kind) {
    case "lock-waiting":
      io.stderr(`Waiting for the migration lock (held by another session)...\n`);
      return;
    case "step-started": {
      const step = event.step;
      if (step.kind === "stamp") {
        io.stderr(`Stamp ${formatHeads(step.from)} -> ${formatHeads(step.to)}\n`);
        return;
      }
      const script = graph.get(step.revision);
      const down = script.downRevisions.length > 0 ? script.downRevisions.join(", ") : "<base>";
      const arrow =
        step.direction === "up" ? `${down} -> ${step.revision}` : `${step.revision} -> ${down}`;
      io.stderr(
        `Running ${step.direction === "up" ? "upgrade" : "downgrade"} ${arrow}, ${script.message}\n`,
      );
      return;
    }
    case "step-retrying": {
      // In `all` mode the whole transaction was rolled back: the retry starts from its first step.
      const what =
        event.retryFrom < event.index ? "retrying the transaction from its first step" : "retrying";
      io.stderr(
        `  ${RETRY_CAUSES[event.cause]}; ${what} (attempt ${event.attempt}) in ${event.delayMs} ms\n`,
      );
      return;
    }
    default:
      return;
  }
}

/**
 * The revisions the database is at (its version table's rows; [] before the first run), given
 * up on with TENANT_TIMEOUT after `readTimeoutMs`.
 */
export function readHeads(options: DatabaseOptions & { readTimeoutMs: number }): Promise<string[]> {
  return readCurrentHeads({
    connectionString: options.databaseUrl,
    schema: options.schema,
    versionTable: options.versionTable,
    readTimeoutMs: options.readTimeoutMs,
  });
}

/**
 * `fleetway current`: the revisions the database is at, as Alembic's `current` prints them;
 * `checkHeads` (`--check-heads`) first fails with DATABASE_NOT_AT_HEAD unless they are every head.
 */
export async function showCurrent(
  io: CliIo,
  { graph }: Migrations,
  options: DatabaseOptions & {
    json: boolean;
    verbose: boolean;
    checkHeads: boolean;
    readTimeoutMs: number;
  },
): Promise<void> {
  const heads = await readHeads(options);
  // As Alembic's `current -v`, named before `--check-heads` can fail, as there.
  if (options.verbose && !options.json) io.stdout(`${currentHeader(options)}\n`);
  if (options.checkHeads) assertAtAllHeads(graph, heads);
  if (options.json) {
    printJson(io, {
      heads,
      atHead: isAtAllHeads(graph, heads),
    });
    return;
  }
  printLines(io, currentLines(graph, heads, options.verbose));
}

/**
 * `current -v`'s first line, Alembic's `Current revision(s) for <url>:` with the password hidden
 * (Alembic obfuscates it too). Deliberately more than Alembic's when the schema or version table
 * is not the default: `Current revision(s) for <url> (version table acme.alembic_version):`.
 * Alembic's line names the URL only, so a reader could not tell which table was read when it is
 * not the default (FLEETWAY_SCHEMA, FLEETWAY_VERSION_TABLE, an adopted alembic_version).
 */
function currentHeader(options: DatabaseOptions): string {
  const url = redactConnectionString(options.databaseUrl);
  const defaultTable =
    options.schema === RUN_DEFAULTS.schema && options.versionTable === RUN_DEFAULTS.versionTable;
  const table = defaultTable ? "" : ` (version table ${options.schema}.${options.versionTable})`;
  return `Current revision(s) for ${url}${table}:`;
}

/** `--check-heads`: DATABASE_NOT_AT_HEAD, with Alembic's message, unless {@link isAtAllHeads}. */
function assertAtAllHeads(graph: Migrations["graph"], heads: readonly string[]): void {
  if (isAtAllHeads(graph, heads)) return;
  throw new FleetwayError(ErrorCode.DATABASE_NOT_AT_HEAD, "Database is not on all head revisions", {
    heads: [...heads],
    expected: [...graph.realHeads],
  });
}

/**
 * Alembic's `current` lines: `get_all_current` (the rows plus what they imply, so a dependency's
 * branch tip that no row names is current too: b2 depends on a2, only b2 is stored) printed by
 * `cmd_format`, so with no "(current)" mark: only `history --indicate-current` marks revisions.
 */
function currentLines(
  graph: Migrations["graph"],
  heads: readonly string[],
  verbose: boolean,
): string[] {
  const known = heads.filter((id) => graph.has(id));
  return [
    ...graph
      .allCurrent(known)
      .map((node) => (verbose ? formatRevisionEntry(node) : formatRevisionLine(graph, node))),
    ...heads.filter((id) => !graph.has(id)).map(unknownRevisionLine),
  ];
}

/**
 * `fleetway show current`: Alembic's `show current`, the `log_entry` of each revision the version
 * table names (`get_revisions` of its rows, so at b2 only b2, where `current` adds the a2 that b2
 * depends on). A row the directory lacks is named as `current` names it.
 */
export async function showCurrentRevisions(
  io: CliIo,
  { graph }: Migrations,
  options: DatabaseOptions & { json: boolean; readTimeoutMs: number },
): Promise<void> {
  const heads = await readHeads(options);
  const known = graph.getRevisions(heads.filter((id) => graph.has(id)));
  const unknown = heads.filter((id) => !graph.has(id));
  if (options.json) {
    printJson(io, [
      ...known.map((node) => revisionJson(graph, node)),
      ...unknown.map((revision) => ({ revision, unknown: true })),
    ]);
    return;
  }
  printLines(io, [
    ...known.map((node) => formatRevisionEntry(node)),
    ...unknown.map(unknownRevisionLine),
  ]);
}

/** Alembic fails on a row the directory lacks; a tenant's database may be ahead of it, so say so. */
function unknownRevisionLine(id: string): string {
  return `${id} (unknown revision: not in the migration directory)`;
}
