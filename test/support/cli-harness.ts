/**
 * Runs the `fleetway` CLI in-process with captured output, the way a shell would see it.
 */
import assert from "node:assert/strict";
import pg from "pg";
import { runCli } from "../../src/cli/main.js";
import type { CliIo } from "../../src/cli/cli-io.js";

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function fleetway(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; now?: Date; signal?: AbortSignal } = {},
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: options.env ?? {},
    cwd: process.cwd(),
    now: () => options.now ?? new Date("2026-01-02T03:04:05Z"),
  };
  const code = await runCli(args, io, options.signal);
  return { code, stdout, stderr };
}

/** Parses the stdout of a `--json` run, failing the test with the CLI's stderr otherwise. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- callers name the shape they expect
export function jsonOf<T = unknown>(run: CliRun): T {
  if (run.code !== 0) throw new Error(`exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/**
 * Runs `command` (a verb that reads the database: `current`, `history -i`, `show current`) while
 * another session holds public.fleetway_version locked, with a 300 ms read timeout given once by
 * --read-timeout and once by FLEETWAY_TENANT_READ_TIMEOUT_MS: each must give up with
 * TENANT_TIMEOUT, exit 1.
 */
export async function assertReadTimesOut(
  command: readonly string[],
  databaseUrl: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const locker = new pg.Client({ connectionString: databaseUrl });
  await locker.connect();
  try {
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE public.fleetway_version IN ACCESS EXCLUSIVE MODE");
    for (const [args, runEnv] of [
      [["--read-timeout", "300"], env],
      [[], { ...env, FLEETWAY_TENANT_READ_TIMEOUT_MS: "300" }],
    ] as const) {
      const run = await fleetway([...command, ...args], { env: runEnv });
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, /FAILED \[TENANT_TIMEOUT\]: .*within 300 ms/);
    }
  } finally {
    await locker.query("ROLLBACK").catch(() => undefined);
    await locker.end();
  }
}
