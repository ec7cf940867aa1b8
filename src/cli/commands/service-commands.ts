import type { Command } from "commander";
import { ConfigError } from "../../config/config-error.js";
import { loadConfig } from "../../config/load-config.js";
import { createLogger } from "../../http/logger.js";
import { startService, type ServiceMode } from "../../service/start-service.js";
import { type CliIo, UsageError } from "../cli-io.js";
import { checkReady } from "./ready-command.js";

const DESCRIPTIONS: Readonly<Record<ServiceMode, string>> = {
  serve: "run the API and a worker in one process (configured from the environment)",
  api: "run the REST API only",
  worker: "run a migration worker only",
};

/** `fleetway serve|api|worker`: runs until SIGTERM/SIGINT, then shuts down gracefully. */
export function registerServiceCommands(program: Command, io: CliIo, signal: AbortSignal): void {
  for (const mode of ["serve", "api", "worker"] as const) {
    program
      .command(mode)
      .description(DESCRIPTIONS[mode])
      .action(async () => {
        await runService(io, mode, signal);
      });
  }
  program
    .command("ready")
    .description("exit 0 when the control database and Redis answer (a health probe for workers)")
    .action(async () => {
      await checkReady(io);
    });
}

async function runService(io: CliIo, mode: ServiceMode, signal: AbortSignal): Promise<void> {
  let config;
  try {
    config = loadConfig(io.env, io.cwd);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`Configuration error: ${error.message}`);
    throw error;
  }
  const logger = createLogger(config);
  const service = await startService(config, mode, logger);
  if (service.url !== null)
    io.stderr(`Fleetway ${mode} listening on ${service.url} (docs at ${service.url}/docs)\n`);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener(
      "abort",
      () => {
        resolve();
      },
      { once: true },
    );
  });
  await service.stop();
  // Everything was stopped. A Redis client that could not be closed (Redis down: BullMQ's
  // disconnect leaves a worker's blocking connection retrying) would keep the process alive for
  // ever; a process told to stop must exit, so one second after a complete shutdown it does.
  setTimeout(() => {
    process.exit();
  }, 1_000).unref();
}
