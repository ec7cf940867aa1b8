import { pino, type DestinationStream, type Logger, type LoggerOptions } from "pino";
import { originOnly, REDACTED } from "../webhooks/origin-only.js";

/**
 * Property names whose values are secrets wherever they appear (matched case-insensitively):
 * connection strings (tenant, control, Redis, provisioning admin), passwords, API keys, webhook
 * secrets and callback URLs (sealed at rest like connection strings: receivers often put a token
 * in the URL), and credential headers. Connection strings are never logged on purpose; this
 * catches the accidents.
 */
export const REDACTED_KEYS: readonly string[] = [
  "databaseUrl",
  "connectionString",
  "controlDatabaseUrl",
  "redisUrl",
  "provisionAdminUrl",
  "adminUrl",
  "password",
  "secret",
  "previousSecret",
  "callbackSecret",
  "callbackUrl",
  "encryptionKey",
  "apiKey",
  "apiKeys",
  "token",
  "authorization",
  "cookie",
  "set-cookie",
];

/**
 * Logged URLs (a property named `url` or `…Url`, e.g. a webhook delivery's) keep only their
 * origin when they are absolute ({@link originOnly}): the log line's ids (delivery,
 * subscription) say which URL it was. A request's own `url` (a path, `/v1/jobs?limit=5`) is
 * left as it is.
 */
const isUrlKey = (lowerKey: string): boolean => lowerKey.endsWith("url");

/** What replaces a plain object or array nested deeper than {@link MAX_DEPTH}. */
export const TOO_DEEP = "[too deep]";

/**
 * Levels below the logged object that are searched (`a.b.c.databaseUrl` is at level 3). Deeper
 * data is dropped rather than logged unsearched: it also ends cyclic structures.
 */
const MAX_DEPTH = 8;

const REDACTED_LOWER: ReadonlySet<string> = new Set(REDACTED_KEYS.map((k) => k.toLowerCase()));

/** The prototype of what pino's `err` serializer returns: walked like a plain object. */
const SERIALIZED_ERROR: unknown = Object.getPrototypeOf(pino.stdSerializers.err(new Error()));

/**
 * A copy of `value` with every {@link REDACTED_KEYS} property replaced by {@link REDACTED}, the
 * path and query of absolute URLs under `url`/`…Url` properties too, and plain data nested deeper
 * than 8 levels by {@link TOO_DEEP}. `value` itself is never modified
 * (it may be frozen or still in use); parts without secrets are shared, not copied. Only plain
 * objects, arrays and pino's serialized errors are walked: class instances (requests, replies,
 * errors, dates, buffers) are left to their serializers or `toJSON`, and the `err` serializer's
 * output is walked in turn.
 */
export function redactSecretFields<T>(value: T): T {
  return scrub(value, 0) as T;
}

function scrub(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    if (depth > MAX_DEPTH) return TOO_DEEP;
    const items: readonly unknown[] = value;
    let copy: unknown[] | undefined;
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      const clean = scrub(item, depth + 1);
      if (clean !== item) (copy ??= [...items])[i] = clean;
    }
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null && proto !== SERIALIZED_ERROR) return value;
  if (depth > MAX_DEPTH) return TOO_DEEP;
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(record)) {
    const item = record[key];
    const lowerKey = key.toLowerCase();
    const clean =
      item !== undefined && REDACTED_LOWER.has(lowerKey)
        ? REDACTED
        : typeof item === "string" && isUrlKey(lowerKey)
          ? originOnly(item)
          : scrub(item, depth + 1);
    if (clean !== item) (copy ??= { ...record })[key] = clean;
  }
  return copy ?? value;
}

/**
 * pino options (also usable as Fastify's `logger` option): level, ISO timestamps, and secret
 * redaction by {@link redactSecretFields} on every logged object, on the root's bindings, and on
 * the output of the `err` serializer (an error's `data` may carry objects). Child bindings are
 * only covered by {@link createLogger}.
 *
 * Why not pino's `redact` paths: a pino path wildcard matches exactly one level, so covering a
 * name at depths 0 to 3 takes four paths per name, and with ~70 such paths pino spent ~60 µs per
 * line (~8 µs with no redaction paths at all, ~1 µs with this walk) — two lines per HTTP request.
 */
export function createLoggerOptions(config: { readonly logLevel: string }): LoggerOptions {
  return {
    level: config.logLevel,
    base: { service: "fleetway" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      log: (object) => redactSecretFields(object),
      bindings: (bindings) => redactSecretFields(bindings),
    },
    serializers: { err: (error: Error) => redactSecretFields(pino.stdSerializers.err(error)) },
  };
}

/**
 * JSON lines on stdout, or on `destination` (tests pass a stream to capture them), redacting
 * secrets as {@link createLoggerOptions} says and, in addition, in child-logger bindings
 * (`logger.child({ tenant })`; Fastify's per-request loggers are children too). Give the result
 * to Fastify as `loggerInstance`.
 */
export function createLogger(
  config: { readonly logLevel: string },
  destination?: DestinationStream,
): Logger {
  const logger =
    destination === undefined
      ? pino(createLoggerOptions(config))
      : pino(createLoggerOptions(config), destination);
  // pino applies the bindings formatter to the root's bindings only and resets it for children,
  // so child bindings are scrubbed here. Children inherit this `child` through their prototype
  // (pino makes a child with Object.create(parent)), so grandchildren are covered as well.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the right `this` below
  const createChild = logger.child;
  logger.child = function (this: Logger, bindings, options) {
    return createChild.call(this, redactSecretFields(bindings), options);
  } as Logger["child"];
  return logger;
}
