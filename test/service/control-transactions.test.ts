/**
 * inTransaction on the control pool when PostgreSQL goes away mid-transaction (a restart, a
 * failover, pg_terminate_backend): the transaction fails with a connection error, the process
 * goes on, and the pool hands out working connections afterwards.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { inTransaction } from "../../src/control/control-db.js";
import { isConnectionError } from "../../src/engine/runner/connect.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";

describe("a control-database transaction whose connection is lost", () => {
  let control: ControlTestDatabase;

  before(async () => {
    control = await createControlTestDatabase();
  });
  after(async () => {
    await control.drop();
  });

  it("fails with a connection error instead of ending the process", async () => {
    const failed = inTransaction(control.pool, async (tx) => {
      const { rows } = await tx.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      const pid = rows[0]?.pid;
      // Ended from another connection while this one waits in a statement.
      const sleeping = tx.query("SELECT pg_sleep(30)").then(
        () => null,
        (error: unknown) => error,
      );
      await control.db.query("SELECT pg_terminate_backend($1)", [pid]);
      const lost = await sleeping;
      if (lost instanceof Error) throw lost;
    }).then(
      () => null,
      (error: unknown) => error,
    );
    const error = await failed;
    assert.ok(error !== null, "the transaction failed");
    assert.equal(isConnectionError(error), true, (error as Error).message);
    // The pool discarded the broken client: what it lends next works.
    for (let i = 0; i < 3; i++) {
      assert.equal(
        await inTransaction(control.pool, async (tx) => (await tx.query("SELECT 1")).rowCount),
        1,
      );
    }
  });
});
