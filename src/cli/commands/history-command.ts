import type { Migrations } from "../../engine/load-migrations.js";
import type { CliIo } from "../cli-io.js";
import { historyRange, historyRangeNeedsCurrent } from "../history-range.js";
import { type DatabaseOptions, readHeads } from "./database-commands.js";
import { showHistory } from "./inspect-commands.js";

export interface HistoryCommandOptions {
  readonly json: boolean;
  readonly verbose: boolean;
  /** `-r start:end`, as written. */
  readonly revRange?: string;
  /** `-i`: mark the revisions the database is at, as Alembic's `--indicate-current`. */
  readonly indicateCurrent: boolean;
  /**
   * Where the database is and how long a read may take; only asked for (and so only checked)
   * when `-i` or the range names `current`.
   */
  readonly database: () => DatabaseOptions & { readonly readTimeoutMs: number };
}

/**
 * `fleetway history`: reads the database's heads only when `-i` or a `current` end of the range
 * needs them (once for both), so plain `history` works without a database. As in Alembic, only
 * `-i` marks them: `-r current:` uses them for the range alone.
 */
export async function runHistory(
  io: CliIo,
  migrations: Migrations,
  options: HistoryCommandOptions,
): Promise<void> {
  // Checked first: a malformed range is a usage error before anything connects.
  const rangeNeedsCurrent =
    options.revRange !== undefined && historyRangeNeedsCurrent(options.revRange);
  const heads =
    options.indicateCurrent || rangeNeedsCurrent ? await readHeads(options.database()) : null;
  const range =
    options.revRange === undefined ? null : historyRange(migrations.graph, options.revRange, heads);
  showHistory(io, migrations, {
    json: options.json,
    verbose: options.verbose,
    range,
    current: options.indicateCurrent ? new Set(heads) : null,
  });
}
