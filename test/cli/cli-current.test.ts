/**
 * `fleetway current` against Alembic's `command.current`: each of `script.get_all_current(rev)`
 * printed with `cmd_format(verbose)`, so no "(current)" mark (only `history -i` sets
 * `_db_current_indicator`), and `-v` first names the database. The revisions are Alembic's
 * `CurrentTest` fixture (tests/test_command.py): b2 depends on a2. Also `current --check-heads`
 * (`test_check_heads_success`/`_fail`) and `show current` (command.py `show`: the `log_entry` of
 * each revision the database is at).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { assertReadTimesOut, type CliRun, fleetway, jsonOf } from "../support/cli-harness.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

const revisions: readonly { id: string; down: string; dependsOn?: string }[] = [
  { id: "a1", down: "none" },
  { id: "a2", down: "a1" },
  { id: "a3", down: "a2" },
  { id: "b1", down: "none" },
  { id: "b2", down: "b1", dependsOn: "a2" },
  { id: "b3", down: "b2" },
];

const binary = new URL("../../bin/fleetway.js", import.meta.url).pathname;

/** The installed binary (dist/, from `npm run build`), as a shell runs it: its exit status. */
function installed(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [binary, ...args],
      { env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
      },
    );
  });
}

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
  /** Empties the version table whatever it names (a test below leaves a revision the directory lacks). */
  const reset = async (): Promise<void> => {
    const run = await fleetway(["stamp", "--purge", "base"], { env });
    assert.equal(run.code, 0, run.stderr);
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
  it("-v names a schema or version table other than the defaults in that line, and only then", async () => {
    await stamp("base", "a3");
    const header = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<string> => {
      const run = await fleetway(["current", "-v", ...args], { env: { ...env, ...extraEnv } });
      assert.equal(run.code, 0, run.stderr);
      return run.stdout.split("\n")[0] ?? "";
    };
    const url = new URL(db.url).toString();
    // The defaults, even when given: Alembic's wording.
    const alembic = `Current revision(s) for ${url}:`;
    assert.equal(await header([]), alembic);
    assert.equal(
      await header(["--schema", "public", "--version-table", "fleetway_version"]),
      alembic,
    );
    // Another table (here one that does not exist: no rows) or schema is named, qualified.
    assert.equal(
      await header(["--version-table", "alembic_version"]),
      `Current revision(s) for ${url} (version table public.alembic_version):`,
    );
    assert.equal(
      await header([], { FLEETWAY_SCHEMA: "billing" }),
      `Current revision(s) for ${url} (version table billing.fleetway_version):`,
    );
  });
  it("refuses a connection string that is not a postgres:// URL, never showing its password", async () => {
    // pg reads `app:pw@host/db` as a database named `w@host/db` on localhost; the connection's
    // error echoed the whole string, password included, and PostgreSQL's refusal repeats part
    // of it. It is a usage error now, before anything connects.
    for (const url of ["app:s3cret@127.0.0.1:5432/t", "postgres:s3cret@127.0.0.1:5432/t"]) {
      const run = await fleetway(["current", "-v"], { env: { ...env, DATABASE_URL: url } });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /is not a postgres:\/\/ or postgresql:\/\/ URL/);
      assert.doesNotMatch(run.stderr + run.stdout, /s3cret/);
    }
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

  it("show current prints the log_entry of each version-table row, as Alembic's show current", async () => {
    // Alembic's show_current: get_revisions of the rows, so b2 alone (current adds the a2 it implies).
    await reset();
    await stamp("b2");
    const atB2 = await fleetway(["show", "current"], { env });
    assert.equal(atB2.code, 0, atB2.stderr);
    assert.equal(atB2.stdout, (await fleetway(["show", "b2"], { env })).stdout);
    assert.match(atB2.stdout, /^Rev: b2$/m);
    assert.doesNotMatch(atB2.stdout, /Rev: a2/);

    await stamp("heads");
    const atHeads = await fleetway(["show", "current"], { env });
    assert.deepEqual(
      atHeads.stdout
        .split("\n")
        .filter((line) => line.startsWith("Rev: "))
        .sort(),
      ["Rev: a3 (head)", "Rev: b3 (head)"],
    );
    const viaBinary = await installed(["show", "current"], env);
    assert.deepEqual([viaBinary.code, viaBinary.stdout], [0, atHeads.stdout], viaBinary.stderr);
    const json = jsonOf<{ revision: string; isHead: boolean }[]>(
      await fleetway(["show", "current", "--json"], { env }),
    );
    assert.deepEqual(json.map((r) => [r.revision, r.isHead]).sort(), [
      ["a3", true],
      ["b3", true],
    ]);

    // An empty database is at base: nothing to show, as Alembic's get_revisions(()).
    await stamp("base");
    const empty = await fleetway(["show", "current"], { env });
    assert.deepEqual([empty.code, empty.stdout, empty.stderr], [0, "", ""]);
    assert.deepEqual(jsonOf(await fleetway(["show", "current", "--json"], { env })), []);
  });

  it("show current finds the version table as current does: flag > env > default", async () => {
    await reset();
    await stamp("a1");
    const elsewhere = {
      ...env,
      FLEETWAY_SCHEMA: "tenant_x",
      FLEETWAY_VERSION_TABLE: "alt_version",
    };
    assert.equal((await fleetway(["stamp", "b1"], { env: elsewhere })).code, 0);
    try {
      const shown = async (args: string[], runEnv: NodeJS.ProcessEnv): Promise<string[]> =>
        jsonOf<{ revision: string }[]>(
          await fleetway(["show", "current", "--json", ...args], { env: runEnv }),
        ).map((r) => r.revision);
      assert.deepEqual(await shown([], env), ["a1"]);
      assert.deepEqual(await shown([], elsewhere), ["b1"]);
      assert.deepEqual(
        await shown(["--schema", "tenant_x", "--version-table", "alt_version"], env),
        ["b1"],
      );
      assert.deepEqual(await shown(["--database-url", db.url], { FLEETWAY_MIGRATIONS_DIR: dir }), [
        "a1",
      ]);
    } finally {
      await fleetway(["stamp", "base"], { env: elsewhere });
    }
  });

  it("show current without a database is a usage error; show <rev> never connects", async () => {
    const noDatabase = await fleetway(["show", "current"], {
      env: { FLEETWAY_MIGRATIONS_DIR: dir },
    });
    assert.equal(noDatabase.code, 2);
    assert.match(noDatabase.stderr, /No database: pass --database-url or set DATABASE_URL/);
    // Nothing listens on port 1: connecting would fail with exit 1.
    const unreachable = { ...env, DATABASE_URL: "postgres://postgres@127.0.0.1:1/none" };
    for (const args of [["a1"], ["heads", "--json"]]) {
      const run = await fleetway(["show", ...args], { env: unreachable });
      assert.equal(run.code, 0, `show ${args.join(" ")}: ${run.stderr}`);
    }
    assert.equal((await fleetway(["show", "current"], { env: unreachable })).code, 1);
  });

  it("show current gives up on a locked version table after the read timeout (TENANT_TIMEOUT, exit 1)", async () => {
    await reset();
    await stamp("a1");
    await assertReadTimesOut(["show", "current"], db.url, env);
  });

  it("show current names a revision missing from the directory, as current does", async () => {
    await reset();
    await stamp("a1");
    await db.query("UPDATE fleetway_version SET version_num = 'zz9'");
    const run = await fleetway(["show", "current"], { env });
    assert.equal(run.stdout, "zz9 (unknown revision: not in the migration directory)\n");
    assert.deepEqual(jsonOf(await fleetway(["show", "current", "--json"], { env })), [
      { revision: "zz9", unknown: true },
    ]);
  });

  /** Sets the version table's rows, as Alembic's tests `stamp` a tuple of revisions. */
  const atRows = async (...rows: string[]): Promise<void> => {
    await reset();
    for (const row of rows)
      await db.query("INSERT INTO fleetway_version (version_num) VALUES ($1)", [row]);
  };
  const notAtHead = "FAILED [DATABASE_NOT_AT_HEAD]: Database is not on all head revisions\n";

  it("current --check-heads passes at every head, as Alembic's test_check_heads_success", async () => {
    await atRows("a3", "b3");
    const run = await fleetway(["current", "--check-heads"], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(run.stdout.trimEnd().split("\n").sort(), ["a3 (head)", "b3 (head)"]);
    const json = await fleetway(["current", "--check-heads", "--json"], { env });
    assert.deepEqual(jsonOf<{ heads: string[] }>(json).heads.sort(), ["a3", "b3"]);
  });

  it("current --check-heads fails with Alembic's message, exit 1, unless the rows are the heads", async () => {
    // Alembic's test_check_heads_fail combinations, then an empty database (at base, below every
    // head) and one ahead of the directory: both differ from the heads as a set, as in Alembic.
    for (const rows of [
      ["a2"],
      ["a3"],
      ["b3"],
      ["a2", "b3"],
      ["a3", "b2"],
      [],
      ["a3", "b3", "zz9"],
    ]) {
      await atRows(...rows);
      const run = await fleetway(["current", "--check-heads"], { env });
      assert.deepEqual(
        [run.code, run.stdout, run.stderr],
        [1, "", notAtHead],
        `at ${rows.join(", ")}`,
      );
    }
    await atRows("a3");
    // -v names the database first, as Alembic's display_version does before it raises.
    const verbose = await fleetway(["current", "--check-heads", "-v"], { env });
    assert.equal(verbose.code, 1);
    assert.match(verbose.stdout, /^Current revision\(s\) for postgres:\/\/[^\n]*:\n$/);
    const json = await fleetway(["current", "--check-heads", "--json"], { env });
    assert.deepEqual([json.code, json.stdout, json.stderr], [1, "", notAtHead]);
    // What a deploy script sees: the installed binary's exit status.
    const viaBinary = await installed(["current", "--check-heads"], env);
    assert.deepEqual([viaBinary.code, viaBinary.stderr], [1, notAtHead]);
    // Without --check-heads the same database is no failure.
    assert.equal(await current(), "a3 (head)\n");
  });

  it("current --json says atHead exactly when --check-heads would pass", async () => {
    // atHead was looser: a row the directory lacks (zz9) beside every head still said true.
    for (const [rows, expected] of [
      [["a3", "b3"], true],
      [["a3", "b3", "zz9"], false],
      [["a3"], false],
      [[], false],
    ] as const) {
      await atRows(...rows);
      const json = await fleetway(["current", "--json"], { env });
      assert.equal(json.code, 0, json.stderr);
      assert.equal(jsonOf<{ atHead: boolean }>(json).atHead, expected, `at ${rows.join(", ")}`);
      const check = await fleetway(["current", "--check-heads"], { env });
      assert.equal(check.code === 0, expected, `--check-heads at ${rows.join(", ")}`);
    }
  });

  it("current --check-heads wants the heads upgrade heads leaves: not one others only depend on", async () => {
    // y2 depends on x1, which has no child: `heads` (Alembic's get_heads()) lists x1, but
    // `upgrade heads` leaves y2 alone in the version table, as Alembic's does.
    const own = await mkdtemp(join(tmpdir(), "fleetway-check-heads-"));
    const empty = await mkdtemp(join(tmpdir(), "fleetway-check-heads-empty-"));
    try {
      for (const revision of [
        { id: "x1", down: "none" },
        { id: "y1", down: "none" },
        { id: "y2", down: "y1", dependsOn: "x1" },
      ])
        await writeFile(join(own, `${revision.id}.sql`), sqlFile(revision));
      const ownEnv = {
        ...env,
        FLEETWAY_MIGRATIONS_DIR: own,
        FLEETWAY_VERSION_TABLE: "dep_version",
      };
      const heads = jsonOf<{ revision: string }[]>(
        await fleetway(["heads", "--json"], { env: ownEnv }),
      );
      assert.deepEqual(heads.map((h) => h.revision).sort(), ["x1", "y2"]);
      const up = await fleetway(["upgrade", "heads"], { env: ownEnv });
      assert.equal(up.code, 0, up.stderr);
      const check = await fleetway(["current", "--check-heads", "--json"], { env: ownEnv });
      assert.deepEqual(jsonOf<{ heads: string[] }>(check).heads, ["y2"]);

      const below = await fleetway(["downgrade", "-1"], { env: ownEnv });
      assert.equal(below.code, 0, below.stderr);
      const behind = await fleetway(["current", "--check-heads"], { env: ownEnv });
      assert.deepEqual([behind.code, behind.stderr], [1, notAtHead]);

      // No heads and no rows are the same set: an empty directory passes on an empty database
      // (as Alembic's does), and --json says atHead, as the service's tenant status does.
      const noneEnv = { ...env, FLEETWAY_VERSION_TABLE: "none_version" };
      const none = await fleetway(["current", "--check-heads", "--dir", empty], { env: noneEnv });
      assert.deepEqual([none.code, none.stdout, none.stderr], [0, "", ""]);
      const noneJson = await fleetway(["current", "--json", "--dir", empty], { env: noneEnv });
      assert.deepEqual(jsonOf(noneJson), { heads: [], atHead: true });
    } finally {
      await rm(own, { recursive: true, force: true });
      await rm(empty, { recursive: true, force: true });
    }
  });
});
