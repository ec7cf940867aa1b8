import { type Command, InvalidArgumentError, Option } from "commander";
import { ConfigError } from "../config/config-error.js";
import { CONFIG_SETTINGS, type Setting } from "../config/config-settings.js";
import { readSetting, settingText } from "../config/read-setting.js";
import { connectionStringProblem } from "../engine/connection-string-form.js";
import type { CliIo } from "./cli-io.js";
import { UsageError } from "./cli-io.js";
import type { DatabaseOptions } from "./commands/database-commands.js";

/** The environment settings the local verbs read, and their defaults when unset. */
const CLI_SETTINGS = {
  // Shared with the service: the same defaults, so a CLI and a service given the same
  // environment work on the same directory and the same version table.
  FLEETWAY_MIGRATIONS_DIR: serviceDefault("FLEETWAY_MIGRATIONS_DIR"),
  FLEETWAY_VERSION_TABLE: serviceDefault("FLEETWAY_VERSION_TABLE"),
  // The service keeps each tenant's schema in the tenant's record; only the CLI reads this.
  FLEETWAY_SCHEMA: "public",
} as const;

/**
 * An option's default from the environment, else the setting's default. A blank value counts as
 * unset, as for the service (`settingText`); a flag on the command line wins over both.
 */
export function settingDefault(io: CliIo, name: keyof typeof CLI_SETTINGS): string {
  return settingText(io.env, name) ?? CLI_SETTINGS[name];
}

/** One of the service's settings, by its variable's name. */
function configSetting(name: string): Setting {
  const setting = CONFIG_SETTINGS.find((s) => s.env === name);
  if (setting === undefined) throw new Error(`${name} is not a setting`);
  return setting;
}

function serviceDefault(name: string): string {
  const value = configSetting(name).default;
  if (value === undefined) throw new Error(`${name} has no default`);
  return value;
}

/** Every verb that reads revision files takes `--dir`. */
export function withDir(command: Command, io: CliIo): Command {
  return command.option(
    "--dir <dir>",
    "migration directory (env FLEETWAY_MIGRATIONS_DIR)",
    settingDefault(io, "FLEETWAY_MIGRATIONS_DIR"),
  );
}

export function withJson(command: Command): Command {
  return command.option("--json", "machine-readable output on stdout", false);
}

/** Options of the verbs that talk to one database. */
export function withDatabase(command: Command, io: CliIo): Command {
  command.addOption(
    new Option("--database-url <url>", "database to migrate (env DATABASE_URL)").default(
      io.env.DATABASE_URL,
      "$DATABASE_URL",
    ),
  );
  return withVersionTable(command, io);
}

/**
 * `--schema` and `--version-table`, for every verb that reads or writes a version table (or its
 * SQL): the same flags, environment variables and defaults everywhere, so `plan --sql` shows the
 * table `upgrade` would move.
 */
export function withVersionTable(command: Command, io: CliIo): Command {
  return command
    .option(
      "--schema <schema>",
      "schema holding the tables and the version table (env FLEETWAY_SCHEMA)",
      settingDefault(io, "FLEETWAY_SCHEMA"),
    )
    .option(
      "--version-table <name>",
      "version table name (env FLEETWAY_VERSION_TABLE; alembic_version adopts an Alembic database)",
      settingDefault(io, "FLEETWAY_VERSION_TABLE"),
    );
}

export function databaseOptions(raw: {
  databaseUrl?: string;
  schema: string;
  versionTable: string;
}): DatabaseOptions {
  if (raw.databaseUrl === undefined || raw.databaseUrl === "") {
    throw new UsageError("No database: pass --database-url or set DATABASE_URL");
  }
  const problem = connectionStringProblem(raw.databaseUrl);
  if (problem !== null)
    throw new UsageError(`The database URL (--database-url or DATABASE_URL) ${problem}`);
  return { databaseUrl: raw.databaseUrl, schema: raw.schema, versionTable: raw.versionTable };
}

/** Commander parser for non-negative integer options (milliseconds, counts). */
export function nonNegativeInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) {
    throw new InvalidArgumentError("expected a whole number >= 0");
  }
  return parsed;
}

/**
 * The largest time in milliseconds the CLI accepts: PostgreSQL's lock_timeout and
 * statement_timeout stop there, and Node's timers fire at once past it.
 */
const MAX_MILLISECONDS = 2_147_483_647;

/** Commander parser for time options in milliseconds (0 where the option says it disables). */
export function milliseconds(value: string): number {
  const parsed = nonNegativeInt(value);
  if (parsed > MAX_MILLISECONDS) {
    throw new InvalidArgumentError(`expected milliseconds between 0 and ${MAX_MILLISECONDS}`);
  }
  return parsed;
}

/** Commander collector for repeatable, comma-separable options (`--depends-on a --depends-on b,c`). */
export function collectList(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(",")
      .map((v) => v.trim())
      .filter((v) => v.length > 0),
  ];
}

/** `--read-timeout`, for every verb that reads the version table without migrating. */
export function withReadTimeout(command: Command): Command {
  return command.option(
    "--read-timeout <ms>",
    "lock_timeout and statement_timeout of the read (env FLEETWAY_TENANT_READ_TIMEOUT_MS, default 5000; 0 = none)",
    milliseconds,
  );
}

/**
 * FLEETWAY_TENANT_READ_TIMEOUT_MS as the service reads it (same default and validation), so that
 * `fleetway current` gives up on a locked version table when the status endpoint does.
 */
export function readTimeoutSetting(env: NodeJS.ProcessEnv): number {
  try {
    return readSetting(configSetting("FLEETWAY_TENANT_READ_TIMEOUT_MS"), env) as number;
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}
