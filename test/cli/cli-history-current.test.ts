/**
 * Where the CLI marks the revisions a database is at with "(current)", against Alembic's
 * `Script._head_only` (one line: after "(head)", before "(branchpoint)"/"(mergepoint)") and
 * `Script.log_entry` (--verbose: after them, last on the "Rev:" line); and `history -i`
 * (Alembic's `history --indicate-current`, command.py `history`/`_display_history`), which reads
 * the database as `current` does and is the only thing that marks revisions (`current` does not).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { assertReadTimesOut, fleetway, jsonOf } from "../support/cli-harness.js";
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

  it("history -i -v puts (current) after (branchpoint) and (mergepoint), as log_entry does", async () => {
    await stamp("r1");
    const atBranchPoint = await fleetway(["history", "-i", "-v", "-r", ":r1"], { env });
    assert.equal(atBranchPoint.code, 0, atBranchPoint.stderr);
    assert.equal(revLine(atBranchPoint.stdout), "Rev: r1 (branchpoint) (current)");

    await stamp("r4");
    const atMergePoint = await fleetway(["history", "-i", "-v", "-r", "r4:"], { env });
    assert.equal(revLine(atMergePoint.stdout), "Rev: r4 (head) (mergepoint) (current)");
  });

  it("current -v does not mark them: Alembic's current prints log_entry unmarked", async () => {
    await stamp("r4");
    const atMergePoint = await fleetway(["current", "-v"], { env });
    assert.equal(atMergePoint.code, 0, atMergePoint.stderr);
    assert.equal(revLine(atMergePoint.stdout), "Rev: r4 (head) (mergepoint)");
  });

  it("history -i marks the database's revisions where Alembic does, in both forms", async () => {
    await stamp("r2");
    const up = await fleetway(["upgrade", "r3"], { env });
    assert.equal(up.code, 0, up.stderr);

    const lines = await fleetway(["history", "-i"], { env });
    assert.equal(lines.code, 0, lines.stderr);
    assert.deepEqual(lines.stdout.trimEnd().split("\n"), [
      "r2, r3 -> r4 (head) (mergepoint), r4",
      "r1 -> r2 (current), r2",
      "r1 -> r3 (current), r3",
      "<base> -> r1 (branchpoint), r1",
    ]);
    const verbose = await fleetway(["history", "--indicate-current", "-v"], { env });
    assert.deepEqual(
      verbose.stdout.split("\n").filter((line) => line.startsWith("Rev: ")),
      [
        "Rev: r4 (head) (mergepoint)",
        "Rev: r2 (current)",
        "Rev: r3 (current)",
        "Rev: r1 (branchpoint)",
      ],
    );

    await stamp("r1");
    const atBranchPoint = await fleetway(["history", "-i"], { env });
    assert.match(atBranchPoint.stdout, /^<base> -> r1 \(current\) \(branchpoint\), r1$/m);
    const atBranchPointVerbose = await fleetway(["history", "-i", "-v", "-r", ":r1"], { env });
    assert.equal(revLine(atBranchPointVerbose.stdout), "Rev: r1 (branchpoint) (current)");
  });

  it("history -i --json adds isCurrent to every entry; without -i the JSON is unchanged", async () => {
    await stamp("r4");
    const marked = jsonOf<{ revision: string; isCurrent?: boolean }[]>(
      await fleetway(["history", "-i", "--json"], { env }),
    );
    assert.deepEqual(
      marked.map((r) => [r.revision, r.isCurrent]),
      [
        ["r4", true],
        ["r2", false],
        ["r3", false],
        ["r1", false],
      ],
    );
    const plain = jsonOf<Record<string, unknown>[]>(await fleetway(["history", "--json"], { env }));
    assert.deepEqual(
      plain,
      marked.map(({ isCurrent: _isCurrent, ...rest }) => rest),
    );
  });

  it("history -r current: uses the database's revisions for the range but, without -i, marks nothing (as Alembic)", async () => {
    await stamp("r2");
    const unmarked = await fleetway(["history", "-r", "current:"], { env });
    assert.equal(unmarked.code, 0, unmarked.stderr);
    assert.deepEqual(unmarked.stdout.trimEnd().split("\n"), [
      "r2, r3 -> r4 (head) (mergepoint), r4",
      "r1 -> r2, r2",
    ]);
    const marked = await fleetway(["history", "-r", "current:", "-i"], { env });
    assert.deepEqual(marked.stdout.trimEnd().split("\n"), [
      "r2, r3 -> r4 (head) (mergepoint), r4",
      "r1 -> r2 (current), r2",
    ]);
  });

  it("history -i finds the version table as current does: flag > env > default", async () => {
    await stamp("r2");
    const elsewhere = {
      ...env,
      FLEETWAY_SCHEMA: "tenant_x",
      FLEETWAY_VERSION_TABLE: "alt_version",
    };
    assert.equal((await fleetway(["stamp", "r3"], { env: elsewhere })).code, 0);
    const currentOf = async (args: string[], runEnv: NodeJS.ProcessEnv): Promise<string[]> =>
      jsonOf<{ revision: string; isCurrent: boolean }[]>(
        await fleetway(["history", "-i", "--json", ...args], { env: runEnv }),
      )
        .filter((r) => r.isCurrent)
        .map((r) => r.revision);
    assert.deepEqual(await currentOf([], env), ["r2"]);
    assert.deepEqual(await currentOf([], elsewhere), ["r3"]);
    assert.deepEqual(
      await currentOf(["--schema", "tenant_x", "--version-table", "alt_version"], env),
      ["r3"],
    );
  });

  it("history -i without a database is a usage error; history without -i never connects", async () => {
    const noDatabase = await fleetway(["history", "-i"], {
      env: { FLEETWAY_MIGRATIONS_DIR: revisions.dir },
    });
    assert.equal(noDatabase.code, 2);
    assert.match(noDatabase.stderr, /DATABASE_URL/);
    // Nothing listens on port 1: connecting would fail with exit 1.
    const unreachable = { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" };
    for (const args of [[], ["-v"], ["--json"], ["-r", "r1:"]]) {
      const run = await fleetway(["history", ...args], { env: unreachable });
      assert.equal(run.code, 0, `history ${args.join(" ")}: ${run.stderr}`);
    }
  });

  it("history without -i does not check the read timeout setting, which only a read uses", async () => {
    const malformed = { ...env, FLEETWAY_TENANT_READ_TIMEOUT_MS: "soon" };
    const plain = await fleetway(["history"], { env: malformed });
    assert.equal(plain.code, 0, plain.stderr);
    const reading = await fleetway(["history", "-i"], { env: malformed });
    assert.equal(reading.code, 2);
    assert.match(reading.stderr, /FLEETWAY_TENANT_READ_TIMEOUT_MS/);
  });

  it("history -i gives up on a locked version table after the read timeout (TENANT_TIMEOUT, exit 1)", async () => {
    await assertReadTimesOut(["history", "-i"], db.url, env);
  });
});
