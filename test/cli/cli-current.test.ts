/**
 * `fleetway current` against Alembic's `command.current`: each of `script.get_all_current(rev)`
 * printed with `cmd_format(verbose)`, so no "(current)" mark (only `history -i` sets
 * `_db_current_indicator`), and `-v` first names the database. The revisions are Alembic's
 * `CurrentTest` fixture (tests/test_command.py): b2 depends on a2.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fleetway, jsonOf } from "../support/cli-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

const revisions: readonly { id: string; down: string; dependsOn?: string }[] = [
  { id: "a1", down: "none" },
  { id: "a2", down: "a1" },
  { id: "a3", down: "a2" },
  { id: "b1", down: "none" },
  { id: "b2", down: "b1", dependsOn: "a2" },
  { id: "b3", down: "b2" },
];

function sqlFile(revision: (typeof revisions)[number]): string {
  const header = [
    `-- revision: ${revision.id}`,
    `-- down_revision: ${revision.down}`,
    `-- message: ${revision.id}`,
  ];
  if (revision.dependsOn !== undefined) header.push(`-- depends_on: ${revision.dependsOn}`);
  return [...header, "", "-- upgrade", "SELECT 1;", "", "-- downgrade", "SELECT 1;", ""].join("\n");
}

describe("fleetway current (Alembic's command.current)", () => {
  let db: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), "fleetway-current-"));
    for (const revision of revisions)
      await writeFile(join(dir, `${revision.id}.sql`), sqlFile(revision));
    env = { DATABASE_URL: db.url, FLEETWAY_MIGRATIONS_DIR: dir };
  });
  after(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const stamp = async (...targets: string[]): Promise<void> => {
    for (const target of targets) {
      const run = await fleetway(["stamp", target], { env });
      assert.equal(run.code, 0, run.stderr);
    }
  };
  const current = async (...args: string[]): Promise<string> => {
    const run = await fleetway(["current", ...args], { env });
    assert.equal(run.code, 0, run.stderr);
    return run.stdout;
  };

  it("prints each revision as cmd_format does, without a (current) mark, in both forms", async () => {
    await stamp("base", "a3");
    assert.equal(await current(), "a3 (head)\n");
    const verbose = (await current("-v")).split("\n");
    assert.ok(verbose.includes("Rev: a3 (head)"), verbose.join("\n"));
    assert.ok(!verbose.some((line) => line.includes("(current)")), verbose.join("\n"));
  });
  it("-v first names the database, its password hidden, as Alembic's 'Current revision(s) for'", async () => {
    await stamp("base", "a3");
    const url = new URL(db.url);
    url.password = "hunter2"; // trust authentication: the server never asks for it
    const run = await fleetway(["current", "-v"], {
      env: { ...env, DATABASE_URL: url.toString() },
    });
    assert.equal(run.code, 0, run.stderr);
    url.password = "***";
    assert.equal(run.stdout.split("\n")[0], `Current revision(s) for ${url.toString()}:`);
    assert.equal(run.stdout.split("\n")[1], "Rev: a3 (head)");
    assert.doesNotMatch(run.stdout, /hunter2/);

    await stamp("base");
    assert.match(await current("-v"), /^Current revision\(s\) for postgres:\/\/[^\n]*:\n$/);
    assert.equal(await current(), "");
  });
  it("lists what the database's revisions imply, as get_all_current: a dependency's branch tip too", async () => {
    const lines = async (): Promise<string[]> => (await current()).trimEnd().split("\n").sort();
    // Alembic's test_heads_one_is_dependent: b2 depends on a2, so a2 is current as well.
    await stamp("base", "b2");
    assert.deepEqual(await lines(), ["a2", "b2"]);
    // test_heads_upg
    const up = await fleetway(["upgrade", "b3"], { env });
    assert.equal(up.code, 0, up.stderr);
    assert.deepEqual(await lines(), ["a2", "b3 (head)"]);
    // The JSON form stays the version table's rows.
    const json = jsonOf<{ heads: string[] }>(await fleetway(["current", "--json"], { env }));
    assert.deepEqual(json.heads, ["b3"]);
  });

  it("a revision missing from the directory is named, not a failure", async () => {
    await stamp("base", "a1");
    await db.query("UPDATE fleetway_version SET version_num = 'zz9'");
    assert.equal(await current(), "zz9 (unknown revision: not in the migration directory)\n");
  });
});
