import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fleetway, jsonOf } from "../support/cli-harness.js";
import {
  DEADLOCK_LOCKS,
  DEADLOCK_TABLES_SQL,
  runThroughDeadlock,
} from "../support/deadlock-peer.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

const binary = new URL("../../bin/fleetway.js", import.meta.url).pathname;

function sqlRevision(id: string, down: string, upgrade: string, downgrade: string): string {
  return `-- revision: ${id}\n-- down_revision: ${down}\n-- message: ${id}\n\n-- upgrade\n${upgrade}\n\n-- downgrade\n${downgrade}\n`;
}

describe("fleetway database verbs", () => {
  let db: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), "fleetway-db-cli-"));
    env = { DATABASE_URL: db.url, FLEETWAY_MIGRATIONS_DIR: dir };
    await writeFile(
      join(dir, "01.sql"),
      sqlRevision("a1", "none", "CREATE TABLE t1 (id int);", "DROP TABLE t1;"),
    );
    await writeFile(
      join(dir, "02.sql"),
      sqlRevision("a2", "a1", "CREATE TABLE t2 (id int);", "DROP TABLE t2;"),
    );
    await writeFile(
      join(dir, "03.sql"),
      sqlRevision("a3", "a2", "CREATE TABLE t3 (id int);", "DROP TABLE t3;"),
    );
  });
  after(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  const heads = async (): Promise<string[]> =>
    jsonOf<{ heads: string[] }>(await fleetway(["current", "--json"], { env })).heads;

  it("upgrade head, current, downgrade -1, upgrade +1, downgrade base", async () => {
    const up = await fleetway(["upgrade", "head"], { env });
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /Running upgrade <base> -> a1/);
    assert.deepEqual(await heads(), ["a3"]);
    const current = await fleetway(["current"], { env });
    assert.equal(current.stdout, "a3 (head)\n");

    assert.equal((await fleetway(["downgrade", "-1"], { env })).code, 0);
    assert.deepEqual(await heads(), ["a2"]);
    assert.equal((await fleetway(["upgrade", "+1"], { env })).code, 0);
    assert.deepEqual(await heads(), ["a3"]);
    const again = await fleetway(["upgrade", "head"], { env });
    assert.match(again.stderr, /Nothing to do/);

    assert.equal((await fleetway(["downgrade", "base"], { env })).code, 0);
    assert.deepEqual(await heads(), []);
    const tables = await db.query(
      "SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 't_'",
    );
    assert.deepEqual(tables.rows, [{ n: 0 }]);
  });

  it("stamp moves the version table without running anything", async () => {
    const run = await fleetway(["stamp", "a2", "--json"], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await heads(), ["a2"]);
    const tables = await db.query(
      "SELECT count(*)::int AS n FROM pg_tables WHERE tablename LIKE 't_'",
    );
    assert.deepEqual(tables.rows, [{ n: 0 }]);
    assert.equal((await fleetway(["stamp", "base"], { env })).code, 0);
    assert.deepEqual(await heads(), []);
  });

  it("a failing revision exits 1, names the revision and SQLSTATE, keeps the last good revision", async () => {
    await writeFile(
      join(dir, "04.sql"),
      sqlRevision("a4", "a3", "SELECT * FROM missing_table;", "SELECT 1;"),
    );
    try {
      const run = await fleetway(["upgrade", "head"], { env });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /MIGRATION_FAILED/);
      assert.match(run.stderr, /a4/);
      assert.match(run.stderr, /42P01|missing_table/);
      assert.deepEqual(await heads(), ["a3"]);
    } finally {
      await rm(join(dir, "04.sql"));
    }
  });

  it("without a database URL the database verbs exit 2", async () => {
    const run = await fleetway(["current", "--dir", dir], { env: {} });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /DATABASE_URL/);
  });

  it("history -r current: reads the database's heads, like alembic history -r current: (marking them takes -i)", async () => {
    assert.equal((await fleetway(["stamp", "a2"], { env })).code, 0);
    const text = await fleetway(["history", "-r", "current:"], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.deepEqual(text.stdout.trimEnd().split("\n"), ["a2 -> a3 (head), a3", "a1 -> a2, a2"]);
    const below = jsonOf<{ revision: string }[]>(
      await fleetway(["history", "-r", ":current", "--json"], { env }),
    );
    assert.deepEqual(
      below.map((r) => r.revision),
      ["a2", "a1"],
    );
    const next = jsonOf<{ revision: string }[]>(
      await fleetway(["history", "-r", "current:+1", "--json"], { env }),
    );
    assert.deepEqual(
      next.map((r) => r.revision),
      ["a3", "a2"],
    );

    // The version table is found as the database verbs find it: flag > env > default.
    const alt = { ...env, FLEETWAY_VERSION_TABLE: "alt_version" };
    assert.equal((await fleetway(["stamp", "a1"], { env: alt })).code, 0);
    const viaEnv = jsonOf<{ revision: string }[]>(
      await fleetway(["history", "-r", "current:", "--json"], { env: alt }),
    );
    assert.deepEqual(
      viaEnv.map((r) => r.revision),
      ["a3", "a2", "a1"],
    );
    const viaFlag = jsonOf<{ revision: string }[]>(
      await fleetway(["history", "-r", "current:", "--json", "--version-table", "alt_version"], {
        env,
      }),
    );
    assert.deepEqual(
      viaFlag.map((r) => r.revision),
      ["a3", "a2", "a1"],
    );
    assert.equal((await fleetway(["stamp", "base"], { env: alt })).code, 0);
    // Back where the previous test left the database (a3, its tables created).
    assert.equal((await fleetway(["stamp", "a3"], { env })).code, 0);

    const noDatabase = await fleetway(["history", "-r", "current:"], {
      env: { FLEETWAY_MIGRATIONS_DIR: dir },
    });
    assert.equal(noDatabase.code, 2);
    assert.match(noDatabase.stderr, /DATABASE_URL/);
    // Without `current` no database is needed.
    const offline = await fleetway(["history", "-r", "a1:+1", "--json"], {
      env: { FLEETWAY_MIGRATIONS_DIR: dir },
    });
    assert.deepEqual(
      jsonOf<{ revision: string }[]>(offline).map((r) => r.revision),
      ["a2", "a1"],
    );
  });

  it("the installed binary runs, and SIGINT cancels a running step cleanly", async () => {
    await fleetway(["downgrade", "base"], { env });
    await writeFile(
      join(dir, "04.sql"),
      sqlRevision("a4", "a3", "SELECT pg_sleep(30);", "SELECT 1;"),
    );
    try {
      const child = spawn(process.execPath, [binary, "upgrade", "head"], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes("-> a4")) setTimeout(() => child.kill("SIGINT"), 300);
      });
      const started = Date.now();
      const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
      assert.equal(code, 1, stderr);
      assert.ok(Date.now() - started < 20_000, "cancelled long before pg_sleep(30) ended");
      assert.match(stderr, /MIGRATION_CANCELLED/);
      assert.deepEqual(await heads(), ["a3"]);
    } finally {
      await rm(join(dir, "04.sql"));
    }
  });
});

describe("fleetway upgrade: a revision chosen as a deadlock's victim", () => {
  let db: TestDatabase;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), "fleetway-db-cli-"));
    env = { DATABASE_URL: db.url, FLEETWAY_MIGRATIONS_DIR: dir };
    await writeFile(join(dir, "01.sql"), sqlRevision("g1", "none", DEADLOCK_TABLES_SQL, ""));
    await writeFile(join(dir, "02.sql"), sqlRevision("g2", "g1", DEADLOCK_LOCKS, ""));
    assert.equal((await fleetway(["upgrade", "g1"], { env })).code, 0);
  });
  after(async () => {
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  });

  it("says it is retrying after a deadlock, not a lock timeout, and succeeds", async () => {
    const up = await runThroughDeadlock(db.url, () =>
      fleetway(["upgrade", "head", "--lock-timeout", "0"], { env }),
    );
    assert.equal(up.code, 0, up.stderr);
    assert.match(
      up.stderr,
      /^ {2}deadlock \(chosen as the victim\); retrying \(attempt 1\) in \d+ ms$/m,
    );
    assert.doesNotMatch(up.stderr, /lock_timeout/);
  });
});
