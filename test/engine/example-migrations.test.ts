/**
 * The example set in migrations/ through the real engine: it loads into a single-head graph,
 * every revision is reversible, the round trip works and every revision survives up/down/up.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadMigrations, type Migrations } from "../../src/engine/load-migrations.js";
import { migrate } from "../../src/engine/migrate.js";
import { planMigration } from "../../src/engine/plan/plan-migration.js";
import { renderOfflineSql } from "../../src/engine/plan/render-offline-sql.js";
import { readCurrentHeads } from "../../src/engine/runner/run-migration.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";
import { topDown } from "../../src/cli/commands/inspect-commands.js";

const migrationsDir = new URL("../../migrations", import.meta.url).pathname;

describe("example migration set", () => {
  let migrations: Migrations;
  let db: TestDatabase;

  before(async () => {
    migrations = await loadMigrations(migrationsDir);
    db = await createTestDatabase();
  });
  after(async () => {
    await db.drop();
  });

  const run = (operation: "upgrade" | "downgrade", target: string, schema = "public") =>
    migrate({ migrations, operation, target, connectionString: db.url, schema });
  const heads = (schema = "public") => readCurrentHeads({ connectionString: db.url, schema });

  it("has one head, a merge, a non-transactional and a code revision, all reversible", () => {
    const { graph } = migrations;
    assert.equal(graph.heads.length, 1);
    const revisions = graph.revisions;
    assert.ok(
      revisions.some((r) => r.downRevisions.length > 1),
      "a merge revision",
    );
    assert.ok(
      revisions.some((r) => !r.transactional),
      "a non-transactional revision",
    );
    assert.ok(
      revisions.some((r) => r.format === "module"),
      "a code revision",
    );
    assert.ok(
      revisions.every((r) => r.downgrade !== null),
      "every revision reversible",
    );
  });

  it("offline SQL keeps CREATE INDEX CONCURRENTLY outside a transaction, and refuses `all` mode as the runner does", () => {
    const plan = planMigration(migrations.graph, { operation: "upgrade", target: "head" }, []);
    const sql = renderOfflineSql(plan, migrations.graph);
    const concurrently = sql.indexOf("CREATE INDEX CONCURRENTLY");
    assert.ok(concurrently > 0);
    const before = sql.slice(0, concurrently);
    assert.ok(before.lastIndexOf("COMMIT;") > before.lastIndexOf("BEGIN;"), "not inside BEGIN");
    assert.throws(() => renderOfflineSql(plan, migrations.graph, { transactionMode: "all" }), {
      code: "NON_TRANSACTIONAL_IN_ALL_MODE",
    });
  });

  it("round trip: upgrade head, downgrade -1, upgrade +1", async () => {
    const head = migrations.graph.heads[0] as string;
    await run("upgrade", "head");
    assert.deepEqual(await heads(), [head]);
    await run("downgrade", "-1");
    const below = await heads();
    assert.notDeepEqual(below, [head]);
    await run("upgrade", "+1");
    assert.deepEqual(await heads(), [head]);
    await run("downgrade", "base");
    assert.deepEqual(await heads(), []);
  });

  it("stairway: every revision upgrades, downgrades and upgrades again", async () => {
    const schema = "stairway";
    const order = topDown(migrations.graph).reverse();
    for (const id of order) {
      await run("upgrade", id, schema);
      assert.ok((await heads(schema)).includes(id), `${id} applied`);
      // `<rev>@-1` takes down just this revision's branch; a merge point has no single -1,
      // so it is downgraded to one of its parents, which reverts exactly the merge.
      const script = migrations.graph.get(id);
      const target =
        script.downRevisions.length > 1 ? (script.downRevisions[0] as string) : `${id}@-1`;
      const stepDown = await migrate({
        migrations,
        operation: "downgrade",
        target,
        connectionString: db.url,
        schema,
      });
      assert.ok(!stepDown.toHeads.includes(id), `${id} reverted`);
      await run("upgrade", id, schema);
      assert.ok((await heads(schema)).includes(id), `${id} re-applied`);
    }
    await run("downgrade", "base", schema);
    const leftovers = await db.query(
      "SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename NOT LIKE 'fleetway_%'",
      [schema],
    );
    assert.deepEqual(leftovers.rows, []);
  });

  it("keeps data: the backfill fills display_name, prices convert cents to numeric and back", async () => {
    const schema = "data_check";
    await run("upgrade", "1a0000000002", schema);
    await db.query(
      `INSERT INTO data_check.users (email) SELECT 'user' || g || '@example.com' FROM generate_series(1, 2500) g`,
    );
    await run("upgrade", "1a0000000006", schema);
    const names = await db.query(
      "SELECT count(*)::int AS n, min(full_name) AS first FROM data_check.users WHERE full_name IS NOT NULL",
    );
    assert.deepEqual(names.rows, [{ n: 2500, first: "user1" }]);
    await db.query("INSERT INTO data_check.products (name, price) VALUES ('widget', 1999)");
    await run("upgrade", "1a0000000007", schema);
    assert.deepEqual((await db.query("SELECT price::text FROM data_check.products")).rows, [
      { price: "19.99" },
    ]);
    await run("downgrade", "1a0000000006", schema);
    assert.deepEqual((await db.query("SELECT price FROM data_check.products")).rows, [
      { price: 1999 },
    ]);
    await run("downgrade", "base", schema);
  });
});
