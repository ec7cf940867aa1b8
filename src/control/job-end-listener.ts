import pg from "pg";
import type { Logger } from "pino";
import { tenantConnectionConfig } from "../engine/runner/connect.js";
import { withDeadline } from "../engine/with-deadline.js";

/**
 * The channel on which the control database announces a job's end: the `jobs_notify_ended`
 * trigger (control migration c0a1b2c3d406) sends the job's id whenever a job moves from queued or
 * running to a final state, whoever moved it. PostgreSQL delivers it once that change commits.
 * While the server's NOTIFY queue is half full or more, it is not sent (control migration
 * c0a1b2c3d417): a full queue would fail the COMMIT recording the job's outcome.
 */
export const JOB_ENDED_CHANNEL = "fleetway_job_ended";

/** After the listening connection failed, the next attempt to open it waits this long. */
const RECONNECT_MS = 1_000;

/** How long stop() waits for the connection to close. */
const STOP_WAIT_MS = 1_000;

/** One wait for one job's end; cancel() when the answer no longer matters. */
export interface JobEndWait {
  /** Resolves (never rejects) when the job may have ended, or when the time is up. */
  readonly ended: Promise<void>;
  cancel(): void;
}

/**
 * Lets API requests wait for a job to end without polling the control database: one connection
 * per API process LISTENs on {@link JOB_ENDED_CHANNEL} and wakes the requests waiting for that job.
 *
 * A notification can be missed (the connection dropped, or a pooler in transaction mode between
 * the API and PostgreSQL cannot LISTEN), so a wake-up only says "read the job again": every waiter
 * is also woken when the connection is (re)opened and when the listener stops, and callers bound
 * each wait (see `waitForEnd`'s `ms`). Correctness never rests on a notification arriving.
 */
export class JobEndListener {
  private client: pg.Client | null = null;
  private readonly waiters = new Map<string, Set<() => void>>();
  private reconnect: NodeJS.Timeout | null = null;
  private isStopped = false;
  /** Set while connection attempts fail, so an outage is logged once. */
  private failing = false;

  constructor(
    private readonly controlDatabaseUrl: string,
    private readonly logger: Logger,
  ) {}

  /** Whether stop() was called: waits then end at once, so callers should answer. */
  get stopped(): boolean {
    return this.isStopped;
  }

  /** Opens the listening connection in the background (and again whenever it fails). */
  start(): void {
    this.isStopped = false;
    // Already listening, connecting, or about to reconnect: one connection is enough.
    if (this.client !== null || this.reconnect !== null) return;
    void this.listen();
  }

  /** Closes the connection and wakes every waiter, so held requests answer at once. */
  async stop(): Promise<void> {
    this.isStopped = true;
    if (this.reconnect !== null) clearTimeout(this.reconnect);
    this.reconnect = null;
    this.wakeAll();
    const client = this.client;
    this.client = null;
    if (client === null) return;
    // A half-open connection may never answer the goodbye: shutdown does not wait on it.
    await withDeadline(
      client.end().catch(() => undefined),
      STOP_WAIT_MS,
      () => undefined,
    );
  }

  /**
   * Waits until job `id` may have ended: its end was announced, the listener (re)connected or
   * stopped, or `ms` passed. Register before reading the job, so an end committed between the
   * read and the wait is not missed.
   */
  waitForEnd(jobId: string, ms: number): JobEndWait {
    // Notifications carry the id as PostgreSQL prints a uuid; a request may write it in capitals.
    const id = jobId.toLowerCase();
    let wake = (): void => undefined;
    const ended = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        wake();
      }, ms);
      wake = (): void => {
        clearTimeout(timer);
        const set = this.waiters.get(id);
        set?.delete(wake);
        if (set?.size === 0) this.waiters.delete(id);
        resolve();
      };
      const set = this.waiters.get(id) ?? new Set();
      set.add(wake);
      this.waiters.set(id, set);
      if (this.isStopped) wake();
    });
    return {
      ended,
      cancel: () => {
        wake();
      },
    };
  }

  private async listen(): Promise<void> {
    if (this.isStopped) return;
    // An idle LISTEN connection is what NAT and load balancers drop silently: TCP keepalive
    // notices, so it is reopened (tenantConnectionConfig also bounds the connection attempt).
    const client = new pg.Client(
      tenantConnectionConfig(this.controlDatabaseUrl, "fleetway-job-ends"),
    );
    client.on("notification", (message) => {
      if (message.channel === JOB_ENDED_CHANNEL && message.payload !== undefined) {
        this.wake(message.payload);
      }
    });
    // Both fire when the connection is lost; the first schedules the one reconnect.
    const lost = (error?: Error): void => {
      if (this.client !== client) return;
      this.client = null;
      if (error !== undefined) {
        this.logger.warn({ err: error }, "lost the control database's job-end notifications");
        // Logged once: failed reconnections during the same outage are not logged again.
        this.failing = true;
      }
      // An error need not close the connection: closed here, so it is not left behind.
      client.end().catch(() => undefined);
      this.scheduleReconnect();
    };
    client.on("error", lost);
    client.on("end", () => {
      lost();
    });
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${JOB_ENDED_CHANNEL}`);
      // stop() (or a lost connection) while connecting let go of this client.
      if (this.client !== client) {
        await client.end().catch(() => undefined);
        return;
      }
      this.failing = false;
      // Ends announced while nobody listened went unheard: everyone reads again.
      this.wakeAll();
    } catch (error) {
      if (this.client === client) {
        this.client = null;
        // Once per outage, not once a second while the database is down.
        if (!this.failing) this.logger.warn({ err: error }, "cannot listen for job ends; retrying");
        this.failing = true;
        this.scheduleReconnect();
      }
      await client.end().catch(() => undefined);
    }
  }

  private scheduleReconnect(): void {
    if (this.isStopped || this.reconnect !== null) return;
    this.reconnect = setTimeout(() => {
      this.reconnect = null;
      void this.listen();
    }, RECONNECT_MS);
    this.reconnect.unref();
  }

  private wake(id: string): void {
    for (const wake of [...(this.waiters.get(id) ?? [])]) wake();
  }

  private wakeAll(): void {
    for (const set of [...this.waiters.values()]) for (const wake of [...set]) wake();
  }
}
