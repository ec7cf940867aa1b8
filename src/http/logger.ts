import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";

/**
 * Paths pino must censor. Connection strings and secrets are never logged on purpose, and these
 * catch the accidents: request bodies, headers, and objects that carry them one or two levels deep.
 * (pino's wildcards match exactly one level each.)
 */
export const REDACTED_PATHS: readonly string[] = [
  "req.headers.authorization",
  "headers.authorization",
  "authorization",
  "databaseUrl",
  "connectionString",
  "password",
  "secret",
  "callbackSecret",
  "*.databaseUrl",
  "*.connectionString",
  "*.password",
  "*.secret",
  "*.callbackSecret",
  "*.*.databaseUrl",
  "*.*.connectionString",
  "*.*.password",
  "*.*.secret",
];

export function createLoggerOptions(config: { readonly logLevel: string }): LoggerOptions {
  return {
    level: config.logLevel,
    redact: { paths: [...REDACTED_PATHS], censor: "[redacted]" },
    base: { service: "fleetway" },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

/** JSON lines on stdout (or `destination`, which tests use to capture them). */
export function createLogger(
  config: { readonly logLevel: string },
  destination?: DestinationStream,
): Logger {
  return destination === undefined
    ? pino(createLoggerOptions(config))
    : pino(createLoggerOptions(config), destination);
}
