/**
 * When the next delivery attempt happens. The default schedule is the one Standard Webhooks
 * senders use: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, i.e. exponential-ish
 * backoff over about a day; each delay gets ±10 % jitter so retries to one receiver spread out.
 */
export const DEFAULT_RETRY_SCHEDULE = "0,5s,5m,30m,2h,5h,10h,10h";

/** The longest Retry-After honoured. */
const MAX_RETRY_AFTER_MS = 86_400_000;

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `"0,5s,5m"` → [0, 5000, 300000]; throws on a malformed entry. */
export function parseRetrySchedule(text: string): number[] {
  return text.split(",").map((entry) => {
    const match = /^\s*(\d+)(ms|s|m|h)?\s*$/.exec(entry);
    if (match?.[1] === undefined)
      throw new Error(`'${entry}' is not a duration like 500ms, 5s, 5m or 2h`);
    return Number(match[1]) * (UNITS[match[2] ?? "ms"] ?? 1);
  });
}

/**
 * The delay before attempt `attempt + 1` after `attempt` attempts failed, or null when the
 * schedule is exhausted. A receiver's Retry-After (429/503) is honoured when it asks for longer.
 */
export function nextAttemptDelay(
  schedule: readonly number[],
  attempt: number,
  retryAfterMs: number | null,
  random: () => number = Math.random,
): number | null {
  const planned = schedule[attempt];
  if (planned === undefined) return null;
  const jittered = Math.round(planned * (0.9 + random() * 0.2));
  return retryAfterMs === null ? jittered : Math.max(jittered, retryAfterMs);
}

/** Retry-After as seconds or an HTTP date, in ms from `now`; null when absent or unreadable. */
export function parseRetryAfter(
  value: string | undefined,
  now: number = Date.now(),
): number | null {
  if (value === undefined || value.trim() === "") return null;
  const ms = /^\d+$/.test(value.trim()) ? Number(value.trim()) * 1000 : Date.parse(value) - now;
  // A receiver asking for years is not waited for longer than a retry schedule's day or so.
  return Number.isNaN(ms) ? null : Math.min(Math.max(0, ms), MAX_RETRY_AFTER_MS);
}
