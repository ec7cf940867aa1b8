import pg from "pg";
import { ErrorCode, FleetwayError } from "../errors.js";
import { tenantConnectionConfig } from "./connect.js";

export function cancelledError(when: string, data: Record<string, unknown> = {}): FleetwayError {
  return new FleetwayError(ErrorCode.MIGRATION_CANCELLED, `Migration cancelled ${when}`, data);
}

/**
 * Turns an abort into pg_cancel_backend of the runner's session, sent over a separate short-lived
 * connection (the runner's own connection is busy with the statement). PostgreSQL then fails the
 * running statement with 57014 and the runner rolls the step back.
 */
export function cancelOnAbort(
  signal: AbortSignal | undefined,
  connectionString: string,
  backendPid: number,
): { dispose(): void } {
  if (signal === undefined) return { dispose: () => undefined };
  let active = true;
  const onAbort = (): void => {
    if (!active) return;
    void cancelBackend(connectionString, backendPid);
  };
  signal.addEventListener("abort", onAbort, { once: true });
  return {
    dispose: () => {
      active = false;
      signal.removeEventListener("abort", onAbort);
    },
  };
}

async function cancelBackend(connectionString: string, pid: number): Promise<void> {
  const client = new pg.Client(tenantConnectionConfig(connectionString, "fleetway-cancel"));
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
