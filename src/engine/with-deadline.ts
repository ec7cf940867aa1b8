/**
 * The promise's outcome, or, once `ms` have passed without one, `onTimeout`'s: what it returns,
 * or what it throws. The timer is cleared either way, so a settled promise leaves nothing behind
 * that keeps the process up.
 *
 * Nothing is cancelled: a promise that loses the race runs on, and its later rejection is handled
 * here (ignored). Ending what it waits for (closing a connection, dropping a client) is the
 * caller's business, as is what a timeout means (a fallback value, or the error to throw).
 */
export async function withDeadline<T, U = never>(
  promise: PromiseLike<T>,
  ms: number,
  onTimeout: () => U | PromiseLike<U>,
): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  }).then(onTimeout);
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
