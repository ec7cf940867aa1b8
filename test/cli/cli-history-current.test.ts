/**
 * Where the CLI marks the revisions a database is at with "(current)", against Alembic's
 * `Script._head_only` (one line: after "(head)", before "(branchpoint)"/"(mergepoint)") and
 * `Script.log_entry` (--verbose: after them, last on the "Rev:" line).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fleetway } from "../support/cli-harness.js";
import { revisionDir, type RevisionDir } from "../support/revision-fixtures.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

/** r1 branches into r2 and r3, which r4 merges. */
const diamond = [
  { id: "r1", up: "SELECT 1;", downgrade: "SELECT 1;" },
  { id: "r2", down: ["r1"], up: "SELECT 1;", downgrade: "SELECT 1;" },
  { id: "r3", down: ["r1"], up: "SELECT 1;", downgrade: "SELECT 1;" },
  { id: "r4", down: ["r2", "r3"], up: "SELECT 1;", downgrade: "SELECT 1;" },
];

describe("(current) marks", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir(diamond);
    env = { DATABASE_URL: db.url, FLEETWAY_MIGRATIONS_DIR: revisions.dir };
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  const stamp = async (target: string): Promise<void> => {
    const run = await fleetway(["stamp", target], { env });
    assert.equal(run.code, 0, run.stderr);
  };
  const revLine = (stdout: string): string | undefined =>
    stdout.split("\n").find((line) => line.startsWith("Rev: "));

  it("--verbose puts (current) after (branchpoint) and (mergepoint), as log_entry does", async () => {
    await stamp("r1");
    const atBranchPoint = await fleetway(["current", "-v"], { env });
    assert.equal(atBranchPoint.code, 0, atBranchPoint.stderr);
    assert.equal(revLine(atBranchPoint.stdout), "Rev: r1 (branchpoint) (current)");

    await stamp("r4");
    const atMergePoint = await fleetway(["current", "-v"], { env });
    assert.equal(revLine(atMergePoint.stdout), "Rev: r4 (head) (mergepoint) (current)");
  });
});
