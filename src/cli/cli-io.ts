import { ErrorCode, isFleetwayError, type FleetwayError } from "../engine/errors.js";

/** Exit codes automation relies on. */
export const ExitCode = {
  OK: 0,
  /**
   * A migration failed, was cancelled, or could not take the lock or connect; the database is not
   * at every head (`current --check-heads`); or the service failed (5xx, 429): worth retrying.
   */
  MIGRATION_FAILED: 1,
  /** Bad usage, invalid revision files or graph, unresolvable target, a request the service refused. */
  USAGE: 2,
} as const;

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly now: () => Date;
  /** True when stderr is a terminal: progress is drawn in place instead of printed line by line. */
  readonly interactive?: boolean;
}

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
    now: () => new Date(),
    interactive: process.stderr.isTTY,
  };
}

const RUNTIME_FAILURES: readonly string[] = [
  ErrorCode.MIGRATION_FAILED,
  ErrorCode.MIGRATION_CANCELLED,
  ErrorCode.LOCK_BUSY,
  ErrorCode.CONNECTION_FAILED,
  ErrorCode.TENANT_TIMEOUT,
  ErrorCode.CHECKSUM_MISMATCH,
  ErrorCode.VERSION_TABLE_CONFLICT,
  // `current --check-heads`: the command is right, the database is behind; it passes once upgraded.
  ErrorCode.DATABASE_NOT_AT_HEAD,
  ErrorCode.SERVICE_UNAVAILABLE,
  ErrorCode.REMOTE_FAILED,
  // The service's own "retry later" refusals (409s): the tenant's lock is held by another job,
  // its database or schema is being dropped (a retry is answered once that drop ended), or the
  // same request is still being served.
  ErrorCode.TENANT_BUSY,
  ErrorCode.TENANT_DELETING,
  ErrorCode.IDEMPOTENCY_IN_PROGRESS,
];

/**
 * Exit 1 rather than 2 ("fix the command"): a runtime code, or any answer a service gave with a
 * 5xx or 429 status (whatever its code, a proxy's included), so deploy tooling can tell a failure
 * worth retrying from a command line that will never work.
 */
function isRuntimeFailure(error: FleetwayError): boolean {
  if (RUNTIME_FAILURES.includes(error.code)) return true;
  const status = error.data.httpStatus;
  return typeof status === "number" && (status >= 500 || status === 429);
}

/** Maps an error to the exit code and the one message line the user sees on stderr. */
export function describeFailure(error: unknown): { exitCode: ExitCode; message: string } {
  if (isFleetwayError(error)) {
    const exitCode = isRuntimeFailure(error) ? ExitCode.MIGRATION_FAILED : ExitCode.USAGE;
    return { exitCode, message: `FAILED [${error.code}]: ${error.message}` };
  }
  if (error instanceof UsageError) return { exitCode: ExitCode.USAGE, message: error.message };
  const message = error instanceof Error ? error.message : String(error);
  return { exitCode: ExitCode.MIGRATION_FAILED, message: `FAILED: ${message}` };
}

/** A problem with the command line itself (commander's errors are mapped to this too). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** Writes one JSON document (the `--json` form of every read verb). */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(io: CliIo, lines: readonly string[]): void {
  if (lines.length > 0) io.stdout(`${lines.join("\n")}\n`);
}
