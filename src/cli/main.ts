import { registerRemoteCommands } from "./commands/remote-commands.js";
import { registerServiceCommands } from "./commands/service-commands.js";
import { pathToFileURL } from "node:url";
import { Command, CommanderError, Option } from "commander";
import { loadMigrations, type Migrations } from "../engine/load-migrations.js";
import type { Operation } from "../engine/plan/migration-plan.js";
import { type CliIo, describeFailure, ExitCode, processIo, UsageError } from "./cli-io.js";
import {
  collectList,
  databaseOptions,
  milliseconds,
  readTimeoutSetting,
  settingDefault,
  withDatabase,
  withDir,
  withJson,
  withReadTimeout,
  withVersionTable,
} from "./cli-options.js";
import { runOnDatabase, showCurrent, showCurrentRevisions } from "./commands/database-commands.js";
import { runHistory } from "./commands/history-command.js";
import { initDirectory } from "./commands/init-command.js";
import {
  checkMigrations,
  showBranches,
  showHeads,
  showRevision,
} from "./commands/inspect-commands.js";
import { showPlan } from "./commands/plan-command.js";
import { createMerge, createRevision } from "./commands/revision-command.js";

interface Ctx {
  readonly io: CliIo;
  readonly signal: AbortSignal;
  exitCode: ExitCode;
}

/**
 * Runs the `fleetway` command line and returns its exit code: 0 success, 1 a migration failed
 * (or a remote verb's service failed: 5xx, 429), 2 usage or validation error (message on stderr).
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo = processIo(),
  signal: AbortSignal = new AbortController().signal,
): Promise<ExitCode> {
  const ctx: Ctx = { io, signal, exitCode: ExitCode.OK };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    const { exitCode, message } = describeFailure(error);
    io.stderr(`${message}\n`);
    return exitCode;
  }
}

function buildProgram(ctx: Ctx): Command {
  const { io } = ctx;
  const program = new Command("fleetway")
    .description("Alembic-style migrations for multi-tenant PostgreSQL")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError();
  const load = (opts: { dir: string }): Promise<Migrations> => loadMigrations(opts.dir);

  program
    .command("init")
    .description("create an empty migration directory")
    .argument("[directory]", "directory to create (default --dir)")
    .option(
      "--dir <dir>",
      "migration directory (env FLEETWAY_MIGRATIONS_DIR)",
      settingDefault(io, "FLEETWAY_MIGRATIONS_DIR"),
    )
    .action(async (directory: string | undefined, opts: { dir: string }) => {
      await initDirectory(io, directory ?? opts.dir);
    });

  withDir(program.command("revision"), io)
    .description("create a new revision file on top of the current head")
    .requiredOption("-m, --message <message>", "what the revision does")
    .option("--rev-id <id>", "use this revision id instead of a generated one")
    .option("--head <rev>", "base the revision on this head (a head, label@head, or base)")
    .option("--splice", "allow --head to name a non-head revision, starting a new branch", false)
    .option(
      "--branch-label <label>",
      "branch label for the new revision (repeatable)",
      collectList,
      [],
    )
    .option(
      "--depends-on <rev>",
      "revision(s) or label(s) this one depends on (repeatable)",
      collectList,
      [],
    )
    .addOption(new Option("--format <format>", "file format").choices(["sql", "ts"]).default("sql"))
    .action(async (opts: RevisionOpts) => {
      await createRevision(io, { ...revisionCommon(opts), head: opts.head, splice: opts.splice });
    });

  withDir(program.command("merge"), io)
    .description("create a merge revision joining several revisions (or `heads`)")
    .argument("<revisions...>", "revisions to merge, or `heads`")
    .requiredOption("-m, --message <message>", "what the merge is for")
    .option("--rev-id <id>", "use this revision id instead of a generated one")
    .option("--branch-label <label>", "branch label for the merge", collectList, [])
    .addOption(new Option("--format <format>", "file format").choices(["sql", "ts"]).default("sql"))
    .action(async (revisions: string[], opts: RevisionOpts) => {
      await createMerge(io, { ...revisionCommon({ ...opts, dependsOn: [] }), revisions });
    });

  withJson(withDir(program.command("heads"), io))
    .description("show the head revisions")
    .option("-v, --verbose", "full details", false)
    .option("--resolve-dependencies", "treat depends_on as down revisions", false)
    .action(async (opts: ReadOpts & { resolveDependencies: boolean }) => {
      showHeads(io, await load(opts), opts);
    });

  withJson(withDir(program.command("branches"), io))
    .description("show branch points")
    .option("-v, --verbose", "full details", false)
    .action(async (opts: ReadOpts) => {
      showBranches(io, await load(opts), opts);
    });

  withReadTimeout(withJson(withDatabase(withDir(program.command("history"), io), io)))
    .description("list revisions, newest first")
    .option(
      "-r, --rev-range <range>",
      "start:end (e.g. base:heads, ae10:, :3f2a, ae10:+2, -2:, label@base:, current: reads the database)",
    )
    .option("-v, --verbose", "full details", false)
    .option(
      "-i, --indicate-current",
      "mark the revisions the database is at with (current) (--json: isCurrent); reads the database",
      false,
    )
    .action(async (opts: HistoryOpts) => {
      await runHistory(io, await load(opts), {
        json: opts.json,
        verbose: opts.verbose,
        revRange: opts.revRange,
        indicateCurrent: opts.indicateCurrent,
        // Settings of the read are checked only when history reads (a malformed one is no
        // reason for plain `history` to fail).
        database: () => ({
          ...databaseOptions(opts),
          readTimeoutMs: opts.readTimeout ?? readTimeoutSetting(io.env),
        }),
      });
    });

  withReadTimeout(withJson(withDatabase(withDir(program.command("show"), io), io)))
    .description("show one revision, or (`current`) the revision(s) the database is at")
    .argument("<rev>", "revision id, prefix, label or head, or current (reads the database)")
    .action(async (rev: string, opts: ReadOpts & RawDatabaseOpts & { readTimeout?: number }) => {
      // As Alembic's `show`: only `current` reads the database; any other <rev> needs none.
      if (rev !== "current") {
        showRevision(io, await load(opts), rev, opts);
        return;
      }
      await showCurrentRevisions(io, await load(opts), {
        ...databaseOptions(opts),
        json: opts.json,
        readTimeoutMs: opts.readTimeout ?? readTimeoutSetting(io.env),
      });
    });

  withJson(withDir(program.command("check"), io))
    .description("validate the graph: loads, single head, every revision reversible")
    .action(async (opts: ReadOpts) => {
      ctx.exitCode = checkMigrations(io, await load(opts), opts);
    });

  withJson(withVersionTable(withDir(program.command("plan"), io), io))
    .description("show the steps (and SQL) a migration would run, without a database")
    .addArgument(operationArgument())
    .argument("<target>", "head, heads, base, <rev>, +N, -N, label@head, ...")
    .option("--from <revs>", "current heads to plan from (comma-separated; empty = base)", "")
    .option("--sql", "include the exact SQL", false)
    .addOption(transactionModeOption())
    .action(async (operation: Operation, target: string, opts: PlanOpts) => {
      showPlan(io, await load(opts), {
        operation,
        target,
        from: collectList(opts.from),
        json: opts.json,
        sql: opts.sql,
        schema: opts.schema,
        versionTable: opts.versionTable,
        transactionMode: opts.transactionMode,
      });
    });

  for (const operation of ["upgrade", "downgrade", "stamp"] as const) {
    const command = withJson(withDatabase(withDir(program.command(operation), io), io))
      .description(`${operation} the database to a target`)
      .argument("<target>", "head, heads, base, <rev>, +N, -N, label@head, ...")
      .addOption(transactionModeOption())
      .option("--lock-timeout <ms>", "lock_timeout for every statement", milliseconds)
      .option("--statement-timeout <ms>", "statement_timeout for every statement", milliseconds)
      .option(
        "--lock-wait-timeout <ms>",
        "how long to wait for another migration's lock",
        milliseconds,
      )
      .option("--allow-checksum-mismatch", "run even if an applied revision file changed", false);
    if (operation === "stamp")
      command.option(
        "--purge",
        "delete every version row first, in the stamp's transaction (repairs a table naming a missing revision)",
        false,
      );
    command.action(async (target: string, opts: RunOpts) => {
      await runOnDatabase(io, await load(opts), {
        ...databaseOptions(opts),
        operation,
        target,
        json: opts.json,
        purge: opts.purge ?? false,
        transactionMode: opts.transactionMode,
        lockTimeoutMs: opts.lockTimeout,
        statementTimeoutMs: opts.statementTimeout,
        advisoryLockTimeoutMs: opts.lockWaitTimeout,
        allowChecksumMismatch: opts.allowChecksumMismatch,
        signal: ctx.signal,
      });
    });
  }

  registerServiceCommands(program, io, ctx.signal);
  registerRemoteCommands(program, io, ctx.signal);

  withReadTimeout(withJson(withDatabase(withDir(program.command("current"), io), io)))
    .description("show the revision(s) the database is at")
    .option("-v, --verbose", "full details", false)
    .option(
      "--check-heads",
      "fail (exit 1, DATABASE_NOT_AT_HEAD) unless the database is at every head",
      false,
    )
    .action(async (opts: CurrentOpts) => {
      await showCurrent(io, await load(opts), {
        ...databaseOptions(opts),
        json: opts.json,
        verbose: opts.verbose,
        checkHeads: opts.checkHeads,
        readTimeoutMs: opts.readTimeout ?? readTimeoutSetting(io.env),
      });
    });

  return program;
}

interface ReadOpts {
  dir: string;
  json: boolean;
  verbose: boolean;
}
interface RawDatabaseOpts {
  databaseUrl?: string;
  schema: string;
  versionTable: string;
}
interface CurrentOpts extends ReadOpts, RawDatabaseOpts {
  checkHeads: boolean;
  readTimeout?: number;
}
interface HistoryOpts extends ReadOpts, RawDatabaseOpts {
  revRange?: string;
  indicateCurrent: boolean;
  readTimeout?: number;
}
interface RevisionOpts {
  dir: string;
  message: string;
  revId?: string;
  head?: string;
  splice: boolean;
  branchLabel: string[];
  dependsOn: string[];
  format: "sql" | "ts";
}
interface PlanOpts {
  dir: string;
  json: boolean;
  from: string;
  sql: boolean;
  schema: string;
  versionTable: string;
  transactionMode: "per-revision" | "all";
}
interface RunOpts extends RawDatabaseOpts {
  dir: string;
  json: boolean;
  purge?: boolean;
  transactionMode: "per-revision" | "all";
  lockTimeout?: number;
  statementTimeout?: number;
  lockWaitTimeout?: number;
  allowChecksumMismatch: boolean;
}

function revisionCommon(opts: RevisionOpts): Parameters<typeof createRevision>[1] {
  return {
    dir: opts.dir,
    message: opts.message,
    revId: opts.revId,
    format: opts.format,
    branchLabels: opts.branchLabel,
    dependsOn: opts.dependsOn,
    splice: false,
  };
}

function operationArgument() {
  return new Command()
    .createArgument("<operation>", "upgrade, downgrade or stamp")
    .choices(["upgrade", "downgrade", "stamp"]);
}

function transactionModeOption(): Option {
  return new Option("--transaction-mode <mode>", "one transaction per revision, or one for all")
    .choices(["per-revision", "all"])
    .default("per-revision");
}

/** Entry point: SIGINT/SIGTERM cancel a running migration cleanly (the step rolls back). */
export async function main(): Promise<void> {
  const controller = new AbortController();
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write("Stopping: a running step is rolled back, never left half-done...\n");
    controller.abort();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.exitCode = await runCli(process.argv.slice(2), processIo(), controller.signal);
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  await main();
}

export { UsageError };
