/**
 * JSON for a jsonb column. PostgreSQL's jsonb refuses U+0000 (`\u0000`) and lone surrogates
 * (`\ud800`), and a migration's log line or error message may carry either: such a value would
 * fail its statement every time it is written, and with it the progress or outcome written with
 * it. They are replaced by U+FFFD, the replacement character, in keys and values.
 */
export function jsonbText(value: unknown): string {
  return JSON.stringify(storable(value));
}

function storable(value: unknown): unknown {
  if (typeof value === "string") return storableText(value);
  if (Array.isArray(value)) return value.map(storable);
  if (value === null || typeof value !== "object" || value instanceof Date) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, v]) => [storableText(key), storable(v)]),
  );
}

/** NUL, a high surrogate without its low one, or a low one without its high one. */
const UNSTORABLE = /\0|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function storableText(text: string): string {
  return text.replace(UNSTORABLE, "\uFFFD");
}
