/**
 * Round trips to the tenant per step, counted as pg.Client#query calls: every query is one round
 * trip, and a fleet rollout's cost beyond its SQL is mostly round trips. A transactional SQL step
 * is one query (BEGIN, timeouts, SQL, bookkeeping, COMMIT); a step run outside a transaction adds
 * only what it must: its timeouts set and reset around its statements.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import pg from "pg";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

/** Queries sent by every pg client while `work` runs. */
async function countQueries(work: () => Promise<unknown>): Promise<number> {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound below with apply
  const original = pg.Client.prototype.query;
  let count = 0;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    count++;
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    await work();
  } finally {
    pg.Client.prototype.query = original;
  }
  return count;
}

describe("runner: round trips per step", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  /** Queries of upgrading r1 → r2 (r1 applied beforehand), for r2 as given. */
  async function queriesOfSecondStep(transactional: boolean): Promise<number> {
    const db: TestDatabase = await createTestDatabase();
    const revisions: RevisionDir = await revisionDir([
      tableRevision("r1"),
      tableRevision("r2", ["r1"], { transactional }),
    ]);
    cleanups.push(
      () => db.drop(),
      () => revisions.remove(),
    );
    const options = { connectionString: db.url, operation: "upgrade" as const, appliedBy: "test" };
    await revisions.run({ ...options, target: "r1" });
    const queries = await countQueries(() => revisions.run({ ...options, target: "r2" }));
    const { rows } = await db.query("SELECT to_regclass('t_r2') IS NOT NULL AS present");
    assert.equal((rows[0] as { present: boolean }).present, true, "r2 applied");
    return queries;
  }

  it("a step outside a transaction costs three more round trips than inside one, no more", async () => {
    const inside = await queriesOfSecondStep(true);
    const outside = await queriesOfSecondStep(false);
    // Outside: set the timeouts, the statement, reset the timeouts, then BEGIN + bookkeeping +
    // COMMIT in one query (three queries of their own before that was merged).
    assert.equal(outside - inside, 3, `inside ${inside}, outside ${outside}`);
  });
});
