import pg from "pg";
import { ErrorCode, FleetwayError, isFleetwayError } from "../errors.js";
import { isConnectionError, sqlStateOf, tenantConnectionConfig } from "./connect.js";

export function cancelledError(when: string, data: Record<string, unknown> = {}): FleetwayError {
  return new FleetwayError(ErrorCode.MIGRATION_CANCELLED, `Migration cancelled ${when}`, data);
}

/**
 * How long a cancelled run's statement may go on before the run's connection is dropped. A server
 * that answers at all takes the cancel within a round trip or two and stops the statement at its
 * next interrupt check: milliseconds, so a few seconds is plenty. One that stopped answering (its
 * host hung, a network link drops packets) never answers the cancel nor the statement, and
 * without a limit the run, a worker's shutdown and a user's cancel would wait forever. (A server
 * that is up but slow to stop its statement loses the connection too: see cancelOnAbort.) Not the
 * tenant's connect timeout: that measures something else, is 10 s by default (on top of a
 * shutdown's grace period), and is unlimited when the URL says `connect_timeout=0`.
 */
export const DROP_AFTER_CANCEL_MS = 5_000;

/** The runner's tenant session, as a cancel sees it. */
export interface CancellableSession {
  /** The backend's pid, which pg_cancel_backend is sent to. */
  readonly pid: number;
  /** Closes the connection without waiting for the server; a query waiting on it rejects. */
  drop(): void;
}

/**
 * Turns an abort into pg_cancel_backend of the runner's session, sent over a separate short-lived
 * connection (the runner's own connection is busy with the statement). PostgreSQL then fails the
 * running statement with 57014 and the runner rolls the step back. If the run has not ended
 * {@link DROP_AFTER_CANCEL_MS} after the abort, the server is taken for gone and the session is
 * dropped: the statement waiting on it rejects (see {@link cancellationByDrop}). The server ends
 * the session when it notices the connection closed, as for a client that crashed: a query still
 * running may finish first (a step's COMMIT goes in the same query), anything uncommitted is
 * rolled back, and the tenant's advisory lock, a session lock, is released with the session.
 */
export function cancelOnAbort(
  signal: AbortSignal | undefined,
  connectionString: string,
  session: CancellableSession,
): { dispose(): void } {
  if (signal === undefined) return { dispose: () => undefined };
  let active = true;
  let dropTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    if (!active) return;
    void cancelBackend(connectionString, session.pid);
    dropTimer = setTimeout(() => {
      if (active) session.drop();
    }, DROP_AFTER_CANCEL_MS);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  return {
    dispose: () => {
      active = false;
      clearTimeout(dropTimer);
      signal.removeEventListener("abort", onAbort);
    },
  };
}

async function cancelBackend(connectionString: string, pid: number): Promise<void> {
  // Bounded like the wait for it: once the session is dropped, a cancel still on its way is moot,
  // and a connection attempt to a server that never answers must not keep the process alive.
  const client = new pg.Client({
    ...tenantConnectionConfig(connectionString, "fleetway-cancel", DROP_AFTER_CANCEL_MS),
    query_timeout: DROP_AFTER_CANCEL_MS,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT pg_cancel_backend($1)", [pid]);
  } catch {
    // The statement may finish on its own; the step loop checks the signal again anyway.
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A failure after the run was cancelled that only says its connection broke: the connection
 * {@link cancelOnAbort} dropped (or one the server closed meanwhile). That is how the run was
 * cancelled, not a failure of its own, so it is reported as MIGRATION_CANCELLED, which tells a
 * worker to re-queue the job on shutdown and to end it cancelled on a user's cancel. The
 * connection error stays in the cause chain: a step sent with its bookkeeping and COMMIT in one
 * query may still commit on the server, so what the tenant's heads are is not known until read.
 *
 * @returns the MIGRATION_CANCELLED to throw instead, or null when `error` is something else
 */
export function cancellationByDrop(
  signal: AbortSignal,
  error: unknown,
  when: string,
  data: Record<string, unknown> = {},
): FleetwayError | null {
  if (!signal.aborted) return null;
  // MIGRATION_FAILED wraps whatever the SQL threw; other codes are verdicts of their own.
  if (isFleetwayError(error) && error.code !== ErrorCode.MIGRATION_FAILED) return null;
  const cause = isFleetwayError(error) ? error.cause : error;
  if (!isConnectionError(cause)) return null;
  return new FleetwayError(
    ErrorCode.MIGRATION_CANCELLED,
    `Migration cancelled ${when}: the tenant did not answer the cancel within ` +
      `${DROP_AFTER_CANCEL_MS} ms, so its connection was closed (or it broke); the server may ` +
      `still finish or roll back what it was running, and holds the tenant's lock until it ` +
      `notices the session is gone`,
    {
      // `commit: true` from a failed COMMIT stays: whether it committed is then in doubt.
      ...(isFleetwayError(error) ? error.data : {}),
      ...data,
      sqlstate: sqlStateOf(cause),
      connectionLost: true,
    },
    { cause: error },
  );
}
