import { ConfigError } from "../../config/config-error.js";
import { loadConfig } from "../../config/load-config.js";
import { connect } from "../../engine/runner/connect.js";
import { checkRedis } from "../../service/check-redis.js";
import { type CliIo, UsageError } from "../cli-io.js";

/**
 * `fleetway ready`: exits 0 when the configured control database and Redis answer, the check a
 * container health probe of a worker (which has no HTTP port) runs.
 */
export async function checkReady(io: CliIo): Promise<void> {
  let config;
  try {
    config = loadConfig(io.env, io.cwd);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`Configuration error: ${error.message}`);
    throw error;
  }
  await checkRedis(config.redisUrl);
  const client = await connect(config.controlDatabaseUrl, "fleetway-ready");
  try {
    await client.query("SELECT 1");
  } finally {
    await client.end();
  }
  io.stdout("ready\n");
}
