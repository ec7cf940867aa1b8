import { type Command, InvalidArgumentError, Option } from "commander";
import { ConfigError } from "../config/config-error.js";
import { CONFIG_SETTINGS } from "../config/config-settings.js";
import { readSetting } from "../config/read-setting.js";
import { defaultMigrationsDir } from "../engine/load-migrations.js";
import type { CliIo } from "./cli-io.js";
import { UsageError } from "./cli-io.js";
import type { DatabaseOptions } from "./commands/database-commands.js";

/** Every verb that reads revision files takes `--dir`. */
export function withDir(command: Command, io: CliIo): Command {
  return command.option(
    "--dir <dir>",
    "migration directory (env FLEETWAY_MIGRATIONS_DIR)",
    defaultMigrationsDir(io.env),
  );
}

export function withJson(command: Command): Command {
  return command.option("--json", "machine-readable output on stdout", false);
}

/** Options of the verbs that talk to one database. */
export function withDatabase(command: Command, io: CliIo): Command {
  return command
    .addOption(
      new Option("--database-url <url>", "database to migrate (env DATABASE_URL)").default(
        io.env.DATABASE_URL,
        "$DATABASE_URL",
      ),
    )
    .option(
      "--schema <schema>",
      "schema holding the tables and the version table",
      io.env.FLEETWAY_SCHEMA ?? "public",
    )
    .option(
      "--version-table <name>",
      "version table name (alembic_version adopts an Alembic database)",
      io.env.FLEETWAY_VERSION_TABLE ?? "fleetway_version",
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

/**
 * FLEETWAY_TENANT_READ_TIMEOUT_MS as the service reads it (same default and validation), so that
 * `fleetway current` gives up on a locked version table when the status endpoint does.
 */
export function readTimeoutSetting(env: NodeJS.ProcessEnv): number {
  const setting = CONFIG_SETTINGS.find((s) => s.env === "FLEETWAY_TENANT_READ_TIMEOUT_MS");
  if (setting === undefined) throw new Error("FLEETWAY_TENANT_READ_TIMEOUT_MS is not a setting");
  try {
    return readSetting(setting, env) as number;
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}
