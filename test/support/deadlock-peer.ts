/**
 * Makes a migration's first attempt at a revision the victim of a deadlock, the same way every
 * time. The revision locks t_a, then t_gate, then t_b (DEADLOCK_LOCKS; in `all` mode an earlier
 * revision of the run may lock t_a and a later one the rest); a peer session holds t_b and a gate
 * session holds t_gate. Once the migration holds t_a and waits at the gate, the peer asks for t_a
 * and waits for the migration; then the gate opens and the migration asks for t_b: the cycle is
 * closed by the migration's wait. PostgreSQL looks for a deadlock in a backend that has waited
 * deadlock_timeout, and that backend is the victim: the peer never looks (its deadlock_timeout is
 * an hour, a superuser-only setting, as the tests connect), so the migration's backend finds the
 * cycle after its own deadlock_timeout, whatever the machine's speed.
 */
import pg from "pg";

/** The tables the revision and the sessions lock. */
export const DEADLOCK_TABLES_SQL =
  "CREATE TABLE t_a (id int);\nCREATE TABLE t_gate (id int);\nCREATE TABLE t_b (id int);";

/** The revision's first lock; in `all` mode an earlier revision of the run may take it instead. */
export const DEADLOCK_FIRST_LOCK = "LOCK TABLE t_a IN ACCESS EXCLUSIVE MODE;";

/** The locks after the first, the ones the deadlock's victim waits for. */
export const DEADLOCK_LATER_LOCKS =
  "LOCK TABLE t_gate IN ACCESS SHARE MODE; LOCK TABLE t_b IN ACCESS EXCLUSIVE MODE;";

/** The revision's locks, in its order (statements of a transaction, or of a DO block). */
export const DEADLOCK_LOCKS = `${DEADLOCK_FIRST_LOCK} ${DEADLOCK_LATER_LOCKS}`;

/**
 * Runs `run` (a migration whose plan includes the revision, with no lock_timeout so that only the
 * deadlock can end a wait) through the deadlock above. After the victim's rollback the peer gets
 * t_a and commits, so a retry finds every table free (or waits for the peer's commit).
 *
 * @returns what `run` returns; rejects as it rejects
 */
export async function runThroughDeadlock<T>(url: string, run: () => Promise<T>): Promise<T> {
  const gate = await connect(url, "deadlock-gate");
  const peer = await connect(url, "deadlock-peer");
  try {
    await gate.query("BEGIN; LOCK TABLE t_gate IN ACCESS EXCLUSIVE MODE");
    await peer.query(
      "BEGIN; SET LOCAL deadlock_timeout = '1h'; LOCK TABLE t_b IN ACCESS EXCLUSIVE MODE",
    );
    const running = settled(run());
    await waitForLockWait(gate, "t_gate", running); // the migration holds t_a, waits at the gate
    const peerGetsA = peer.query("LOCK TABLE t_a IN ACCESS EXCLUSIVE MODE");
    peerGetsA.catch(() => undefined); // awaited below unless the run ends first
    await waitForLockWait(gate, "t_a", running); // the peer waits for the migration
    await gate.query("COMMIT"); // the migration asks for t_b: a deadlock, found by the migration
    await peerGetsA.catch((error: unknown) => {
      throw new Error(`the peer, not the migration, was the deadlock's victim: ${String(error)}`);
    });
    await peer.query("COMMIT");
    const outcome = await running.promise;
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  } finally {
    await gate.end();
    await peer.end();
  }
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

interface Settling<T> {
  readonly promise: Promise<Outcome<T>>;
  done: Outcome<T> | null;
}

function settled<T>(promise: Promise<T>): Settling<T> {
  const settling: Settling<T> = {
    done: null,
    promise: promise.then(
      (value) => (settling.done = { ok: true, value }),
      (error: unknown) => (settling.done = { ok: false, error }),
    ),
  };
  return settling;
}

/** Polls pg_locks until a session waits for a lock on `table`; fails if the run ended first. */
async function waitForLockWait(
  client: pg.Client,
  table: string,
  running: Settling<unknown>,
): Promise<void> {
  for (;;) {
    const { rows } = await client.query<{ waiting: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_locks
          WHERE NOT granted AND relation = $1::regclass
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        ) AS waiting`,
      [table],
    );
    if (rows[0]?.waiting === true) return;
    const done = running.done;
    if (done !== null) {
      throw new Error(`the run ended before anyone waited for ${table}`, {
        cause: done.ok ? undefined : done.error,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function connect(url: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  await client.connect();
  return client;
}
