/**
 * Exponential backoff with "full jitter" halves: the delay for `attempt` (1-based) is
 * base * factor^(attempt-1), capped at `maxMs`, then scaled by a random factor in [0.5, 1) so
 * concurrent waiters spread out instead of retrying in lockstep.
 */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly factor: number;
}

export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number): number {
  const exponential = policy.baseMs * policy.factor ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxMs, exponential);
  return Math.round(capped * (0.5 + random() / 2));
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
