import { withDeadline } from "../engine/with-deadline.js";

/** What BullMQ's Queue and Worker offer to let go of Redis. */
export interface RedisClosable {
  close(): Promise<void>;
  disconnect(): Promise<void>;
}

/** How long a disconnect is waited for: its promise may never settle (see below). */
const DISCONNECT_WAIT_MS = 1_000;

/**
 * Closes a BullMQ queue or worker, or, when that fails or has not finished within `deadlineMs`,
 * drops its Redis connections. A close waits for Redis to answer (its connections retry for ever),
 * so with Redis down a process told to stop would otherwise never exit. The disconnect stops the
 * reconnecting at once, but BullMQ's promise for it waits for an `end` event that a connection
 * already torn down never emits: it is waited for briefly, not to the end.
 *
 * @returns whether it closed (false: it was disconnected, late or after a failed close)
 */
export async function closeOrDisconnect(
  target: RedisClosable,
  deadlineMs: number,
): Promise<boolean> {
  const closing = target.close().then(
    () => true,
    () => false,
  );
  if (await withDeadline(closing, deadlineMs, () => false)) return true;
  await withDeadline(
    target.disconnect().catch(() => undefined),
    DISCONNECT_WAIT_MS,
    () => undefined,
  );
  return false;
}
