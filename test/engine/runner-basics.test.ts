/**
 * The runner against real PostgreSQL: version and history tables, head changes through branches
 * and merges, schema-per-tenant, Alembic adoption, `all` mode and code revisions.
 */
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import type { FleetwayError } from "../../src/engine/errors.js";
import {
  readCurrentHeads,
  readHistory,
  type RunProgressEvent,
} from "../../src/engine/runner/run-migration.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

async function tablesIn(db: TestDatabase, schema: string): Promise<string[]> {
  const { rows } = await db.query(
    "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 't\\_%' ORDER BY 1",
    [schema],
  );
  return rows.map((r: { tablename: string }) => r.tablename);
}

describe("runner: linear upgrade and downgrade", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("r1"),
      tableRevision("r2", ["r1"]),
      tableRevision("r3", ["r2"]),
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });
  const heads = () => readCurrentHeads({ connectionString: db.url });

  it("creates Alembic's version table and an append-only history on first use", async () => {
    const events: RunProgressEvent["kind"][] = [];
    const result = await revisions.run({
      connectionString: db.url,
      operation: "upgrade",
      target: "head",
      jobId: "job-1",
      appliedBy: "test",
      onProgress: (e) => events.push(e.kind),
    });
    assert.deepEqual(result.fromHeads, []);
    assert.deepEqual(result.toHeads, ["r3"]);
    assert.deepEqual(
      result.steps.map((s) => s.attempts),
      [1, 1, 1],
    );
    assert.deepEqual(await heads(), ["r3"]);
    assert.deepEqual(await tablesIn(db, "public"), ["t_r1", "t_r2", "t_r3"]);
    const columns = await db.query(
      `SELECT column_name, data_type, character_maximum_length, is_nullable FROM information_schema.columns
        WHERE table_name = 'fleetway_version'`,
    );
    assert.deepEqual(columns.rows, [
      {
        column_name: "version_num",
        data_type: "character varying",
        character_maximum_length: 32,
        is_nullable: "NO",
      },
    ]);
    const pk = await db.query(
      "SELECT conname FROM pg_constraint WHERE conname = 'fleetway_version_pkc'",
    );
    assert.equal(pk.rowCount, 1);
    const history = await readHistory({ connectionString: db.url });
    assert.deepEqual(
      history
        .map((h) => [h.revision, h.direction, h.success, h.jobId, h.appliedBy, h.headsAfter])
        .reverse(),
      [
        ["r1", "up", true, "job-1", "test", ["r1"]],
        ["r2", "up", true, "job-1", "test", ["r2"]],
        ["r3", "up", true, "job-1", "test", ["r3"]],
      ],
    );
    assert.ok(history.every((h) => /^[0-9a-f]{64}$/.test(h.checksum ?? "")));
    assert.deepEqual(events.slice(0, 3), ["lock-acquired", "planned", "step-started"]);
    assert.equal(events.filter((k) => k === "step-succeeded").length, 3);
  });

  it("a second upgrade to head runs nothing", async () => {
    const result = await revisions.run({
      connectionString: db.url,
      operation: "upgrade",
      target: "head",
    });
    assert.equal(result.plan.steps.length, 0);
    assert.equal((await readHistory({ connectionString: db.url })).length, 3);
  });

  it("downgrade -1, +1, base; history keeps every step", async () => {
    await revisions.run({ connectionString: db.url, operation: "downgrade", target: "-1" });
    assert.deepEqual(await heads(), ["r2"]);
    assert.deepEqual(await tablesIn(db, "public"), ["t_r1", "t_r2"]);
    await revisions.run({ connectionString: db.url, operation: "upgrade", target: "+1" });
    assert.deepEqual(await heads(), ["r3"]);
    await revisions.run({ connectionString: db.url, operation: "downgrade", target: "base" });
    assert.deepEqual(await heads(), []);
    assert.deepEqual(await tablesIn(db, "public"), []);
    const history = await readHistory({ connectionString: db.url });
    assert.deepEqual(
      history.slice(0, 3).map((h) => [h.revision, h.direction, h.headsAfter]),
      [
        ["r1", "down", []],
        ["r2", "down", ["r1"]],
        ["r3", "down", ["r2"]],
      ],
    );
  });

  it("stamp moves the version table and records it, running nothing", async () => {
    await revisions.run({ connectionString: db.url, operation: "stamp", target: "r2" });
    assert.deepEqual(await heads(), ["r2"]);
    assert.deepEqual(await tablesIn(db, "public"), []);
    const [latest] = await readHistory({ connectionString: db.url });
    assert.equal(latest?.direction, "stamp");
    assert.deepEqual(latest.headsAfter, ["r2"]);
    await revisions.run({ connectionString: db.url, operation: "stamp", target: "base" });
    assert.deepEqual(await heads(), []);
  });
});

describe("runner: stamp --purge empties the version table first, like Alembic's", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    // Two independent roots, so a stamp that forgot to purge would leave both rows.
    revisions = await revisionDir([tableRevision("aaaa1"), tableRevision("bbbb1")]);
    await revisions.run({ connectionString: db.url, operation: "stamp", target: "base" });
  });
  beforeEach(async () => {
    await db.query("DROP TRIGGER IF EXISTS refuse_bbbb1 ON fleetway_version");
    await db.query("DELETE FROM fleetway_version");
    await db.query("INSERT INTO fleetway_version VALUES ('aaaa1')");
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });
  const heads = () => readCurrentHeads({ connectionString: db.url });
  const stampPurge = (target: string) =>
    revisions.run({ connectionString: db.url, operation: "stamp", target, purge: true });

  it("replaces every row with the target and records the purge", async () => {
    const result = await stampPurge("bbbb1");
    assert.deepEqual(result.fromHeads, ["aaaa1"]);
    assert.deepEqual(result.toHeads, ["bbbb1"]);
    assert.deepEqual(await heads(), ["bbbb1"]);
    const [stamp, purge] = await readHistory({ connectionString: db.url });
    assert.deepEqual(
      [purge?.direction, purge?.headsAfter, stamp?.direction, stamp?.headsAfter],
      ["stamp", [], "stamp", ["bbbb1"]],
    );
  });

  it("to base leaves the table empty", async () => {
    await stampPurge("base");
    assert.deepEqual(await heads(), []);
  });

  it("to the revision the table already holds leaves just that row", async () => {
    await stampPurge("aaaa1");
    assert.deepEqual(await heads(), ["aaaa1"]);
  });

  it("repairs a table naming a revision whose file is gone", async () => {
    await db.query("UPDATE fleetway_version SET version_num = 'deleted0rev'");
    await assert.rejects(
      revisions.run({ connectionString: db.url, operation: "stamp", target: "aaaa1" }),
      { code: "UNKNOWN_APPLIED_REVISION" },
    );
    await stampPurge("aaaa1");
    assert.deepEqual(await heads(), ["aaaa1"]);
  });

  it("commits the purge with the stamp: a failing stamp leaves the table as it was", async () => {
    await db.query(`CREATE OR REPLACE FUNCTION refuse_bbbb1() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN RAISE EXCEPTION 'no bbbb1 here'; END $$`);
    await db.query(`CREATE TRIGGER refuse_bbbb1 BEFORE INSERT ON fleetway_version
      FOR EACH ROW WHEN (NEW.version_num = 'bbbb1') EXECUTE FUNCTION refuse_bbbb1()`);
    await assert.rejects(stampPurge("bbbb1"), { code: "MIGRATION_FAILED" });
    assert.deepEqual(await heads(), ["aaaa1"]);
  });

  it("is refused for an upgrade", async () => {
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "heads",
        purge: true,
      }),
      { code: "USAGE_ERROR" },
    );
    assert.deepEqual(await heads(), ["aaaa1"]);
  });
});

describe("runner: branches and merges move the version table like Alembic's HeadMaintainer", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("base1"),
      tableRevision("left1", ["base1"], { branchLabels: ["left"] }),
      tableRevision("right1", ["base1"], { branchLabels: ["right"] }),
      tableRevision("merge1", ["left1", "right1"]),
      tableRevision("after1", ["merge1"]),
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });
  const heads = () => readCurrentHeads({ connectionString: db.url });
  const run = (operation: "upgrade" | "downgrade", target: string) =>
    revisions.run({ connectionString: db.url, operation, target });

  it("upgrades one branch, then the other (two rows), then through the merge (one row)", async () => {
    await run("upgrade", "left1");
    assert.deepEqual(await heads(), ["left1"]);
    await run("upgrade", "right1");
    assert.deepEqual(await heads(), ["left1", "right1"]);
    await run("upgrade", "head");
    assert.deepEqual(await heads(), ["after1"]);
  });

  it("downgrading the merge unmerges into two rows; one branch can go down alone", async () => {
    await run("downgrade", "left1");
    assert.deepEqual(await heads(), ["left1", "right1"]);
    await run("downgrade", "right@-1");
    assert.deepEqual(await heads(), ["left1"]);
    assert.deepEqual(await tablesIn(db, "public"), ["t_base1", "t_left1"]);
    await run("downgrade", "base");
    assert.deepEqual(await heads(), []);
  });
});

describe("runner: schema per tenant", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([tableRevision("s1"), tableRevision("s2", ["s1"])]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("two schemas of one database migrate independently, each with its own tables", async () => {
    await revisions.run({
      connectionString: db.url,
      schema: "tenant_a",
      operation: "upgrade",
      target: "head",
    });
    await revisions.run({
      connectionString: db.url,
      schema: "tenant_b",
      operation: "upgrade",
      target: "s1",
    });
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url, schema: "tenant_a" }), [
      "s2",
    ]);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url, schema: "tenant_b" }), [
      "s1",
    ]);
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), []);
    assert.deepEqual(await tablesIn(db, "tenant_a"), ["t_s1", "t_s2"]);
    assert.deepEqual(await tablesIn(db, "tenant_b"), ["t_s1"]);
    assert.deepEqual(await tablesIn(db, "public"), []);
    await revisions.run({
      connectionString: db.url,
      schema: "tenant_a",
      operation: "downgrade",
      target: "base",
    });
    assert.deepEqual(await tablesIn(db, "tenant_a"), []);
    assert.deepEqual(await tablesIn(db, "tenant_b"), ["t_s1"]);
  });
});

describe("runner: adopting a database Alembic managed", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([tableRevision("ae1"), tableRevision("ae2", ["ae1"])]);
    // What Alembic itself creates, and the state it left: ae1 applied.
    await db.query(`CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,
      CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))`);
    await db.query("CREATE TABLE t_ae1 (id int)");
    await db.query("INSERT INTO alembic_version VALUES ('ae1')");
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("continues from alembic_version and keeps it in Alembic's format", async () => {
    const result = await revisions.run({
      connectionString: db.url,
      versionTable: "alembic_version",
      operation: "upgrade",
      target: "head",
    });
    assert.deepEqual(
      result.plan.steps.map((s) => (s.kind === "revision" ? s.revision : "stamp")),
      ["ae2"],
    );
    const { rows } = await db.query("SELECT version_num FROM alembic_version");
    assert.deepEqual(rows, [{ version_num: "ae2" }]);
  });
});

describe("runner: transaction mode all", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([
      tableRevision("m1"),
      tableRevision("m2", ["m1"]),
      {
        id: "m3",
        down: ["m2"],
        up: "CREATE TABLE t_m3 (id int);\nSELECT 1/0;",
        downgrade: "DROP TABLE t_m3;",
      },
      {
        id: "m4",
        down: ["m3"],
        up: "CREATE INDEX CONCURRENTLY t_m1_idx ON t_m1 (id);",
        downgrade: "DROP INDEX CONCURRENTLY t_m1_idx;",
        transactional: false,
      },
    ]);
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("a failure rolls back the whole run, including steps that succeeded", async () => {
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "m3",
        transactionMode: "all",
      }),
      (error: { code: string; data: { revision: string; sqlstate: string } }) => {
        assert.equal(error.code, "MIGRATION_FAILED");
        assert.equal(error.data.revision, "m3");
        assert.equal(error.data.sqlstate, "22012");
        return true;
      },
    );
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), []);
    assert.deepEqual(await tablesIn(db, "public"), []);
    const history = await readHistory({ connectionString: db.url });
    assert.deepEqual(
      history.map((h) => [h.revision, h.success, h.headsAfter]),
      [["m3", false, []]],
    );
  });

  it("commits every step at once when all succeed", async () => {
    await revisions.run({
      connectionString: db.url,
      operation: "upgrade",
      target: "m2",
      transactionMode: "all",
    });
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["m2"]);
    assert.deepEqual(await tablesIn(db, "public"), ["t_m1", "t_m2"]);
  });

  it("refuses a plan with a non-transactional revision before running anything", async () => {
    await revisions.write(tableRevision("m3", ["m2"]));
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        operation: "upgrade",
        target: "head",
        transactionMode: "all",
      }),
      { code: "NON_TRANSACTIONAL_IN_ALL_MODE" },
    );
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url }), ["m2"]);
  });
});

describe("runner: code revisions", () => {
  let db: TestDatabase;
  let revisions: RevisionDir;
  before(async () => {
    db = await createTestDatabase();
    revisions = await revisionDir([tableRevision("c1")]);
    await writeFile(
      join(revisions.dir, "c2.ts"),
      `import type { MigrationContext } from "${new URL("../../src/engine/script/revision-script.js", import.meta.url).pathname}";
export const revision = "c2";
export const down_revision = "c1";
export const message = "backfill";
export async function upgrade(ctx: MigrationContext): Promise<void> {
  await ctx.query("INSERT INTO t_c1 (id) SELECT generate_series(1, $1::int)", [5]);
  const { rows } = await ctx.query("SELECT current_schema() AS s, count(*)::int AS n FROM t_c1");
  ctx.log(\`schema \${String(rows[0]?.s)} rows \${String(rows[0]?.n)} ctx \${ctx.schema}\`);
}
export async function downgrade(ctx: MigrationContext): Promise<void> {
  await ctx.query("DELETE FROM t_c1");
}
`,
    );
  });
  after(async () => {
    await db.drop();
    await revisions.remove();
  });

  it("runs upgrade(ctx) on the step's connection, in the tenant schema, with logs as events", async () => {
    const logs: string[] = [];
    await revisions.run({
      connectionString: db.url,
      schema: "acme",
      operation: "upgrade",
      target: "head",
      onProgress: (e) => {
        if (e.kind === "log") logs.push(`${e.revision}: ${e.message}`);
      },
    });
    assert.deepEqual(logs, ["c2: schema acme rows 5 ctx acme"]);
    await revisions.run({
      connectionString: db.url,
      schema: "acme",
      operation: "downgrade",
      target: "-1",
    });
    const { rows } = await db.query("SELECT count(*)::int AS n FROM acme.t_c1");
    assert.deepEqual(rows, [{ n: 0 }]);
  });

  it("a revision that stops on ctx.signal reports MIGRATION_CANCELLED, not a failure", async () => {
    await writeFile(
      join(revisions.dir, "c3.ts"),
      `import type { MigrationContext } from "${new URL("../../src/engine/script/revision-script.js", import.meta.url).pathname}";
export const revision = "c3";
export const down_revision = "c2";
export const message = "long backfill";
export async function upgrade(ctx: MigrationContext): Promise<void> {
  for (;;) {
    ctx.signal.throwIfAborted();
    await ctx.query("SELECT pg_sleep(0.02)");
  }
}
`,
    );
    const controller = new AbortController();
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        schema: "acme",
        operation: "upgrade",
        target: "head",
        signal: controller.signal,
        onProgress: (e) => {
          if (e.kind === "step-started" && e.step.kind === "revision" && e.step.revision === "c3")
            setTimeout(() => {
              controller.abort(new Error("cancel requested"));
            }, 100);
        },
      }),
      (error: FleetwayError) => {
        assert.equal(error.code, "MIGRATION_CANCELLED");
        assert.equal(error.data.revision, "c3");
        return true;
      },
    );
    assert.deepEqual(await readCurrentHeads({ connectionString: db.url, schema: "acme" }), ["c2"]);
  });

  it("a failure whose message jsonb cannot hold (NUL) still gets its history row", async () => {
    await writeFile(
      join(revisions.dir, "c3.ts"),
      `export const revision = "c3";
export const down_revision = "c2";
export const message = "bad bytes";
export function upgrade(): Promise<void> {
  return Promise.reject(new Error("bad\\u0000byte"));
}
`,
    );
    await assert.rejects(
      revisions.run({
        connectionString: db.url,
        schema: "acme",
        operation: "upgrade",
        target: "head",
      }),
      (error: FleetwayError) => error.code === "MIGRATION_FAILED",
    );
    const [latest] = await readHistory({ connectionString: db.url, schema: "acme" });
    assert.equal(latest?.revision, "c3");
    assert.equal(latest.success, false);
    assert.match(String(latest.error?.message), /bad\uFFFDbyte/);
  });
});
