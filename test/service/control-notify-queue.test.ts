/**
 * Control revision c0a1b2c3d417: a job's end is announced only while PostgreSQL's NOTIFY queue is
 * less than half full. A listener that stopped reading lets the queue fill, and when it is full
 * every COMMIT of a transaction that notified fails (SQLSTATE 54000), so a job's outcome could
 * not be recorded. Filling the server's queue (gigabytes) is no test: the usage is an argument of
 * fleetway_notify_if_queue_has_room, tried here at each level, and the trigger passes the real one.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { JOB_ENDED_CHANNEL } from "../../src/control/job-end-listener.js";
import { finishJob } from "../../src/control/job-store.js";
import {
  createControlTestDatabase,
  downgradeControlTo,
  upgradeControlTo,
  type ControlTestDatabase,
} from "../support/control-database.js";

/** A connection listening on the job-end channel, handing out what it hears in order. */
class Listener {
  private readonly heard: string[] = [];
  private notify: (() => void) | null = null;

  constructor(readonly client: pg.Client) {
    client.on("notification", (message) => {
      this.heard.push(message.payload ?? "");
      this.notify?.();
    });
  }

  /** The next payload heard (the test's own timeout bounds the wait). */
  async next(): Promise<string> {
    while (this.heard.length === 0) {
      await new Promise<void>((resolve) => {
        this.notify = resolve;
      });
    }
    return this.heard.shift() ?? "";
  }
}

describe("control revision c0a1b2c3d417 (job ends spare a filling NOTIFY queue)", () => {
  let control: ControlTestDatabase;
  let client: pg.Client;
  let listener: Listener;

  before(async () => {
    control = await createControlTestDatabase();
    client = new pg.Client({ connectionString: control.db.url });
    await client.connect();
    listener = new Listener(client);
    await client.query(`LISTEN ${JOB_ENDED_CHANNEL}`);
  });
  after(async () => {
    await client.end();
    await control.drop();
  });

  const notifyAt = async (payload: string, usage: number): Promise<boolean> => {
    const { rows } = await control.pool.query<{ sent: boolean }>(
      "SELECT fleetway_notify_if_queue_has_room($1, $2, $3) AS sent",
      [JOB_ENDED_CHANNEL, payload, usage],
    );
    return rows[0]?.sent ?? false;
  };

  it("sends nothing from half full on, and notifies below", async () => {
    assert.equal(await notifyAt("at-half", 0.5), false);
    assert.equal(await notifyAt("nearly-full", 0.99), false);
    assert.equal(await notifyAt("below-half", 0.49), true);
    // Notifications arrive in commit order: had the skipped ones been sent, they came first.
    assert.equal(await listener.next(), "below-half");
  });

  it("announces a job's end at the server's actual usage", async () => {
    const job = await control.queuedJob();
    await finishJob(control.pool, job, { state: "succeeded", error: null });
    assert.equal(await listener.next(), job);
  });

  it("downgrades to the unconditional announcement, and upgrades again", async () => {
    const helperExists = async (): Promise<boolean> => {
      const { rows } = await control.pool.query<{ exists: boolean }>(
        `SELECT to_regprocedure('fleetway_notify_if_queue_has_room(text, text, double precision)')
                IS NOT NULL AS exists`,
      );
      return rows[0]?.exists ?? false;
    };
    await downgradeControlTo(control.db.url, "c0a1b2c3d415");
    assert.equal(await helperExists(), false);
    const downgraded = await control.queuedJob();
    await finishJob(control.pool, downgraded, { state: "failed", error: null });
    assert.equal(await listener.next(), downgraded);

    await upgradeControlTo(control.db.url, "c0a1b2c3d417");
    assert.equal(await helperExists(), true);
    const upgraded = await control.queuedJob();
    await finishJob(control.pool, upgraded, { state: "cancelled", error: null });
    assert.equal(await listener.next(), upgraded);
  });
});
