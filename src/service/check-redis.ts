import { Redis } from "ioredis";
import { ErrorCode, FleetwayError } from "../engine/errors.js";
import { redactConnectionString } from "../engine/redact-connection-string.js";

/**
 * Fails start-up with one clear line when Redis does not answer, instead of BullMQ retrying
 * silently forever.
 */
export async function checkRedis(redisUrl: string, timeoutMs = 3_000): Promise<void> {
  const client = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
    enableOfflineQueue: false,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    const safeUrl = redactConnectionString(redisUrl);
    throw new FleetwayError(
      ErrorCode.SERVICE_UNAVAILABLE,
      `Redis at ${safeUrl} is unreachable (${error instanceof Error ? error.message : String(error)}). ` +
        `Start one with: redis-server --port 6379, or set REDIS_URL`,
      { service: "redis" },
      { cause: error },
    );
  } finally {
    client.disconnect();
  }
}
