/**
 * Runs the `fleetway` CLI in-process with captured output, the way a shell would see it.
 */
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
