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

  it("a step outside a transaction costs two more round trips than inside one, no more", async () => {
    const inside = await queriesOfSecondStep(true);
    const outside = await queriesOfSecondStep(false);
    // Outside: set the timeouts, the statement, then BEGIN + bookkeeping + COMMIT + reset of the
    // timeouts in one query (five queries of their own before those were merged).
    assert.equal(outside - inside, 2, `inside ${inside}, outside ${outside}`);
  });

  it("a new tenant's run reads neither the version table it just created nor checksums", async () => {
    const db: TestDatabase = await createTestDatabase();
    const revisions: RevisionDir = await revisionDir([
      tableRevision("r1"),
      tableRevision("r2", ["r1"]),
    ]);
    cleanups.push(
      () => db.drop(),
      () => revisions.remove(),
    );
    const options = { connectionString: db.url, operation: "upgrade" as const, appliedBy: "test" };
    const fresh = await countQueries(() => revisions.run({ ...options, target: "r1" }));
    const existing = await countQueries(() => revisions.run({ ...options, target: "r2" }));
    // Both run one step. The existing tenant takes the lock and reads its heads (with the
    // search_path and the history table's check) in one query, then the checksums of what it
    // applied. The new tenant's first query fails on the missing tables, which leaves the lock's
    // outcome unknown: it takes the lock in a query of its own, checks what is missing and
    // creates it (two queries), and has no version row to read and no applied revision whose
    // checksum to check.
    assert.equal(fresh - existing, 2, `fresh ${fresh}, existing ${existing}`);
    const { rows } = await db.query("SELECT version_num FROM fleetway_version");
    assert.deepEqual(rows, [{ version_num: "r2" }]);
  });

  it("a run with nothing to do is the lock and the heads, besides the connection's own", async () => {
    const db: TestDatabase = await createTestDatabase();
    const revisions: RevisionDir = await revisionDir([tableRevision("r1")]);
    cleanups.push(
      () => db.drop(),
      () => revisions.remove(),
    );
    const options = { connectionString: db.url, operation: "upgrade" as const, target: "head" };
    await revisions.run(options);
    const noop = await countQueries(() => revisions.run(options));
    // The connection's database and pid (for the lock's key and for cancelling), the lock with
    // the heads, the search_path and the history table's check, and unlocking before closing.
    assert.equal(noop, 3);
  });
});
