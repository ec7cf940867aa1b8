import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { fleetway, jsonOf } from "../support/cli-harness.js";

interface PlanJson {
  steps: { revision: string; direction: "up" | "down" }[];
  heads: string[];
  sql?: string;
}
interface RevisionJson {
  revision: string;
  downRevisions: string[];
  branchLabels: string[];
  dependsOn: string[];
}

describe("fleetway authoring verbs (no database)", () => {
  let root: string;
  let dir: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "fleetway-cli-"));
    dir = join(root, "migrations");
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  const revision = async (...args: string[]) => {
    const run = await fleetway(["revision", "--dir", dir, ...args]);
    assert.equal(run.code, 0, run.stderr);
    return run;
  };

  it("init creates the directory and refuses a non-empty one", async () => {
    assert.equal((await fleetway(["init", dir])).code, 0);
    const again = await fleetway(["init", dir]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /not empty/);
  });

  it("revision chains new files on the current head", async () => {
    await revision("-m", "create users", "--rev-id", "aaaa00000001");
    await revision("-m", "add email", "--rev-id", "aaaa00000002");
    const heads = jsonOf<RevisionJson[]>(await fleetway(["heads", "--dir", dir, "--json"]));
    assert.deepEqual(
      heads.map((h) => [h.revision, h.downRevisions]),
      [["aaaa00000002", ["aaaa00000001"]]],
    );
    const files = await readdir(dir);
    assert.ok(files.some((f) => f.startsWith("aaaa00000002") && f.endsWith(".sql")));
  });

  it("a generated id is 12 hex characters", async () => {
    const run = await revision("-m", "generated id");
    const heads = jsonOf<RevisionJson[]>(await fleetway(["heads", "--dir", dir, "--json"]));
    assert.match(heads[0]?.revision ?? "", /^[0-9a-f]{12}$/);
    assert.match(run.stdout, /Generating .*done/);
  });

  it("--head on a non-head needs --splice; --head base starts a new root with a label", async () => {
    const refused = await fleetway(["revision", "--dir", dir, "-m", "x", "--head", "aaaa00000001"]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /is not a head revision; please specify --splice/);

    await revision(
      "-m",
      "side branch",
      "--rev-id",
      "bbbb00000001",
      "--head",
      "aaaa00000001",
      "--splice",
    );
    await revision(
      "-m",
      "networking root",
      "--rev-id",
      "cccc00000001",
      "--head",
      "base",
      "--branch-label",
      "networking",
    );
    const heads = jsonOf<RevisionJson[]>(await fleetway(["heads", "--dir", dir, "--json"]));
    assert.equal(heads.length, 3);
    const net = heads.find((h) => h.revision === "cccc00000001");
    assert.ok(net);
    assert.deepEqual(net.downRevisions, []);
    assert.deepEqual(net.branchLabels, ["networking"]);
  });

  it("revision without --head refuses when there are several heads", async () => {
    const run = await fleetway(["revision", "--dir", dir, "-m", "ambiguous"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /Multiple heads are present/);
    await revision("-m", "net 2", "--rev-id", "cccc00000002", "--head", "networking@head");
  });

  it("check reports multiple heads with exit 2; branches lists the branch point", async () => {
    const check = await fleetway(["check", "--dir", dir, "--json"]);
    assert.equal(check.code, 2);
    const report = JSON.parse(check.stdout) as { problems: { code: string }[] };
    assert.ok(report.problems.some((p) => p.code === "MULTIPLE_HEADS"));
    const branches = jsonOf<{ revision: string; branchesInto: string[] }[]>(
      await fleetway(["branches", "--dir", dir, "--json"]),
    );
    assert.deepEqual(
      branches.map((b) => b.revision),
      ["aaaa00000001"],
    );
  });

  it("merge heads joins every head; check then passes", async () => {
    const run = await fleetway([
      "merge",
      "--dir",
      dir,
      "-m",
      "join",
      "--rev-id",
      "dddd00000001",
      "heads",
    ]);
    assert.equal(run.code, 0, run.stderr);
    const heads = jsonOf<RevisionJson[]>(await fleetway(["heads", "--dir", dir, "--json"]));
    assert.deepEqual(
      heads.map((h) => h.revision),
      ["dddd00000001"],
    );
    assert.equal(heads[0]?.downRevisions.length, 3);
    const check = await fleetway(["check", "--dir", dir]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /^OK: \d+ revisions, head dddd00000001/);
  });

  it("plan --json prints the documented form, from base and from given heads", async () => {
    const all = jsonOf<PlanJson>(
      await fleetway(["plan", "upgrade", "head", "--dir", dir, "--json"]),
    );
    assert.deepEqual(all.heads, ["dddd00000001"]);
    assert.equal(all.steps.length, 7);
    assert.ok(all.steps.every((s) => s.direction === "up" && Object.keys(s).length === 2));
    assert.equal(all.steps.at(-1)?.revision, "dddd00000001");

    const part = jsonOf<PlanJson>(
      await fleetway([
        "plan",
        "downgrade",
        "aaaa00000001",
        "--dir",
        dir,
        "--from",
        "dddd00000001",
        "--json",
      ]),
    );
    // As in Alembic, a downgrade undoes the target's descendants only: the networking branch stays.
    assert.deepEqual(part.heads, ["aaaa00000001", "cccc00000002"]);
    assert.equal(part.steps[0]?.revision, "dddd00000001");
    assert.ok(part.steps.every((s) => s.direction === "down"));

    const empty = jsonOf<PlanJson>(
      await fleetway(["plan", "upgrade", "head", "--dir", dir, "--from", "", "--json"]),
    );
    assert.equal(empty.steps.length, 7);
  });

  it("plan --sql includes the revision SQL and the version table statements", async () => {
    const path = join(dir, (await readdir(dir)).find((f) => f.startsWith("aaaa00000001")) ?? "");
    const text = await readFile(path, "utf8");
    await writeFile(
      path,
      text.replace(/-- upgrade\n/, "-- upgrade\nCREATE TABLE users (id int);\n"),
    );
    const plan = jsonOf<PlanJson>(
      await fleetway(["plan", "upgrade", "aaaa00000001", "--dir", dir, "--json", "--sql"]),
    );
    assert.match(plan.sql ?? "", /CREATE TABLE users \(id int\);/);
    assert.match(plan.sql ?? "", /INSERT INTO "fleetway_version"/);
  });

  it("history lists newest first and honours -r; show prints one revision", async () => {
    const history = jsonOf<RevisionJson[]>(await fleetway(["history", "--dir", dir, "--json"]));
    assert.equal(history[0]?.revision, "dddd00000001");
    const order = history.map((r) => r.revision);
    assert.ok(order.indexOf("aaaa00000001") > order.indexOf("aaaa00000002"), order.join(" "));
    const text = await fleetway(["history", "--dir", dir]);
    assert.match(text.stdout, /aaaa00000001 -> aaaa00000002, add email/);
    const ranged = jsonOf<RevisionJson[]>(
      await fleetway(["history", "--dir", dir, "--json", "-r", "aaaa00000002:dddd00000001"]),
    );
    assert.ok(ranged.every((r) => r.revision !== "aaaa00000001" && r.revision !== "bbbb00000001"));
    const shown = await fleetway(["show", "aaaa00000002", "--dir", dir]);
    assert.match(shown.stdout, /Rev: aaaa00000002/);
    assert.match(shown.stdout, /Parent: aaaa00000001/);
  });

  it("usage and resolution errors exit 2 with the message on stderr", async () => {
    const unknown = await fleetway(["plan", "upgrade", "ffff9999", "--dir", dir, "--json"]);
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.stderr,
      /UNKNOWN_REVISION.*Can't locate revision identified by 'ffff9999'/,
    );
    const relative = await fleetway([
      "plan",
      "upgrade",
      "+50",
      "--dir",
      dir,
      "--from",
      "aaaa00000002",
    ]);
    assert.equal(relative.code, 2);
    assert.match(relative.stderr, /Relative revision \+50 didn't produce 50 migrations/);
    // From base there are two roots here (aaaa..., cccc...): Alembic refuses to guess.
    const ambiguous = await fleetway(["plan", "upgrade", "+1", "--dir", dir]);
    assert.equal(ambiguous.code, 2);
    assert.match(ambiguous.stderr, /AMBIGUOUS_WALK/);
    const badVerb = await fleetway(["frobnicate"]);
    assert.equal(badVerb.code, 2);
    const missingDir = await fleetway(["heads", "--dir", join(root, "nope")]);
    assert.equal(missingDir.code, 2);
    // A path in --rev-id would write the file outside --dir (where nothing loads it).
    const escaping = await fleetway(["revision", "--dir", dir, "-m", "x", "--rev-id", "../esc1"]);
    assert.equal(escaping.code, 2);
    assert.match(escaping.stderr, /cannot contain/);
    assert.deepEqual(
      (await readdir(root)).filter((f) => f.startsWith("esc1")),
      [],
    );
  });

  it("a ts revision is created and loads", async () => {
    await revision("-m", "backfill data", "--format", "ts", "--rev-id", "eeee00000001");
    const shown = jsonOf<(RevisionJson & { format: string })[]>(
      await fleetway(["show", "eeee00000001", "--dir", dir, "--json"]),
    );
    const [first] = shown;
    assert.ok(first);
    assert.equal(first.format, "module");
    assert.deepEqual(first.downRevisions, ["dddd00000001"]);
  });

  it("the built fleetway command loads a .ts revision outside an ES-module package", async () => {
    // A process of its own, as a migration author runs it: without the test runner's tsx
    // (--import tsx), only what the command registers itself loads the revision. On Node 24 a
    // registration without tsx's CommonJS half failed here ("Cannot find module …?namespace=…").
    const cjsDir = await mkdtemp(join(tmpdir(), "fleetway-cli-cjs-"));
    try {
      await writeFile(
        join(cjsDir, "aaaa00000001_first.ts"),
        `export const revision = "aaaa00000001"; export const down_revision = null;
         export async function upgrade(ctx: { query(sql: string): Promise<unknown> }): Promise<void> {
           await ctx.query("SELECT 1");
         }`,
      );
      const binary = new URL("../../bin/fleetway.js", import.meta.url).pathname;
      const { stdout } = await promisify(execFile)(process.execPath, [
        binary,
        "heads",
        "--dir",
        cjsDir,
      ]);
      assert.match(stdout, /^aaaa00000001 \(head\)$/m);
    } finally {
      await rm(cjsDir, { recursive: true, force: true });
    }
  });
});
