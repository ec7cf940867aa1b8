/**
 * Where the CLI's settings come from: flag, then environment, then default; a setting that is set
 * but blank (`FLEETWAY_MIGRATIONS_DIR=` from an env file) counts as unset, as it does for the
 * service (src/config/read-setting.ts).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { loadConfig } from "../../src/config/load-config.js";
import { fleetway, jsonOf } from "../support/cli-harness.js";

const binary = new URL("../../bin/fleetway.js", import.meta.url).pathname;

const revisionFile = (id: string, down: string): string =>
  `-- revision: ${id}\n-- down_revision: ${down}\n-- message: ${id}\n\n-- upgrade\nCREATE TABLE ${id} (id int);\n\n-- downgrade\nDROP TABLE ${id};\n`;

interface PlanJson {
  sql?: string;
}

describe("fleetway settings: flag > environment > default", () => {
  let root: string;
  let dir: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "fleetway-cli-settings-"));
    dir = join(root, "migrations");
    await mkdir(dir);
    await writeFile(join(dir, "01.sql"), revisionFile("s1", "none"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const planSql = async (env: NodeJS.ProcessEnv, ...flags: string[]): Promise<string> =>
    jsonOf<PlanJson>(
      await fleetway(["plan", "upgrade", "head", "--dir", dir, "--json", "--sql", ...flags], {
        env,
      }),
    ).sql ?? "";

  it("plan --sql takes the schema and version table from FLEETWAY_SCHEMA and FLEETWAY_VERSION_TABLE", async () => {
    const sql = await planSql({
      FLEETWAY_SCHEMA: "tenant_env",
      FLEETWAY_VERSION_TABLE: "alembic_version",
    });
    assert.match(sql, /SET search_path TO "tenant_env"/);
    assert.match(sql, /INSERT INTO "alembic_version"/);
    assert.doesNotMatch(sql, /fleetway_version/);
  });

  it("plan's --schema and --version-table flags win over the environment", async () => {
    const sql = await planSql(
      { FLEETWAY_SCHEMA: "tenant_env", FLEETWAY_VERSION_TABLE: "alembic_version" },
      "--schema",
      "tenant_flag",
      "--version-table",
      "flag_version",
    );
    assert.match(sql, /SET search_path TO "tenant_flag"/);
    assert.match(sql, /INSERT INTO "flag_version"/);
    assert.doesNotMatch(sql, /tenant_env|alembic_version/);
  });

  it("blank FLEETWAY_SCHEMA and FLEETWAY_VERSION_TABLE mean the defaults", async () => {
    const sql = await planSql({ FLEETWAY_SCHEMA: "", FLEETWAY_VERSION_TABLE: "  " });
    assert.match(sql, /SET search_path TO public;/);
    assert.match(sql, /INSERT INTO "fleetway_version"/);
  });

  it("a blank FLEETWAY_MIGRATIONS_DIR means ./migrations, for the CLI as for the service", async () => {
    assert.equal(loadConfig({ FLEETWAY_MIGRATIONS_DIR: "" }, root).migrationsDir, dir);
    assert.equal(loadConfig({ FLEETWAY_MIGRATIONS_DIR: "  " }, root).migrationsDir, dir);
    for (const blank of ["", "  "]) {
      // The installed binary, run where a shell would run it: resolved against its working directory.
      const { stdout } = await promisify(execFile)(process.execPath, [binary, "heads", "--json"], {
        cwd: root,
        env: { ...process.env, FLEETWAY_MIGRATIONS_DIR: blank },
      });
      const heads = JSON.parse(stdout) as { revision: string }[];
      assert.deepEqual(
        heads.map((h) => h.revision),
        ["s1"],
        `FLEETWAY_MIGRATIONS_DIR=${JSON.stringify(blank)}`,
      );
    }
  });

  it("a blank FLEETWAY_MIGRATIONS_DIR does not override --dir, and a set one is used", async () => {
    const viaFlag = await fleetway(["heads", "--json", "--dir", dir], {
      env: { FLEETWAY_MIGRATIONS_DIR: "" },
    });
    assert.deepEqual(
      jsonOf<{ revision: string }[]>(viaFlag).map((h) => h.revision),
      ["s1"],
    );
    const viaEnv = await fleetway(["heads", "--json"], { env: { FLEETWAY_MIGRATIONS_DIR: dir } });
    assert.deepEqual(
      jsonOf<{ revision: string }[]>(viaEnv).map((h) => h.revision),
      ["s1"],
    );
  });
});

describe("fleetway time options", () => {
  // Nothing listens on port 1: a value that got past the parser would fail to connect (exit 1).
  const unreachable = "postgres://postgres@127.0.0.1:1/none";

  it("refuse more milliseconds than PostgreSQL and Node's timers take, as a usage error", async () => {
    for (const args of [
      ["current", "--read-timeout", "3000000000"],
      ["history", "-i", "--read-timeout", "3000000000"],
      ["upgrade", "head", "--lock-timeout", "2147483648"],
      ["upgrade", "head", "--statement-timeout", "99999999999"],
      ["downgrade", "base", "--lock-wait-timeout", "3000000000"],
    ]) {
      const run = await fleetway([...args, "--database-url", unreachable]);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
      assert.match(run.stderr, /expected milliseconds between 0 and 2147483647/);
    }
  });
});
