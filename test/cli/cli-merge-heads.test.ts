/** `fleetway merge` joins heads only, as Alembic's `merge` (generate_revision without splice) does. */
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fleetway } from "../support/cli-harness.js";

describe("fleetway merge of revisions that are not heads", () => {
  let root: string;
  let dir: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "fleetway-merge-"));
    dir = join(root, "migrations");
    for (const id of ["aaaa00000001", "aaaa00000002", "aaaa00000003"]) {
      const run = await fleetway(["revision", "--dir", dir, "-m", id, "--rev-id", id]);
      assert.equal(run.code, 0, run.stderr);
    }
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("refuses a non-head, and writes no file", async () => {
    // aaaa00000001 and aaaa00000002 both have children; aaaa00000001 is even an ancestor of the other.
    const run = await fleetway([
      "merge",
      "--dir",
      dir,
      "-m",
      "bogus merge",
      "--rev-id",
      "eeee00000001",
      "aaaa00000001",
      "aaaa00000002",
    ]);
    assert.equal(run.code, 2, `exit 2 expected; stdout: ${run.stdout}`);
    assert.match(run.stderr, /is not a head revision/);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.startsWith("eeee")),
      [],
      "no merge file written",
    );
    const check = await fleetway(["check", "--dir", dir]);
    assert.equal(check.code, 0, `the directory still has one head: ${check.stderr}`);
  });
});
