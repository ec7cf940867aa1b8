import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ErrorCode, FleetwayError } from "../../src/engine/errors.js";
import {
  isRevisionFileName,
  loadRevisionDirectory,
} from "../../src/engine/script/load-revision-directory.js";

const sql = (id: string, down = "none") =>
  `-- revision: ${id}\n-- down_revision: ${down}\n-- upgrade\nSELECT 1;\n`;
const mod = (id: string, down = "null") =>
  `import { base } from "./_shared.js";\nexport const revision = "${id}";\nexport const down_revision = ${down};\nexport const message = base;\nexport async function upgrade() {}\n`;

describe("loadRevisionDirectory", () => {
  let root: string;
  const makeDir = async (name: string, files: Record<string, string>): Promise<string> => {
    const dir = join(root, name);
    await mkdir(dir);
    await writeFile(join(dir, "package.json"), '{ "type": "module" }\n');
    for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
    return dir;
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "fleetway-dir-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("loads every format in file-name order and skips what is not a revision", async () => {
    const dir = await makeDir("mixed", {
      "b_second.sql": sql("b", "a"),
      "a_first.sql": sql("a"),
      "c_third.ts": mod("c", '"b"'),
      "d_fourth.mts": mod("d", '"c"'),
      "e_fifth.js": mod("e", '"d"'),
      "f_sixth.mjs": mod("f", '"e"'),
      "_shared.js": 'export const base = "shared";\n',
      "_helper.sql": "not a revision",
      "types.d.ts": "export declare const x: number;\n",
      "types.d.mts": "export declare const y: number;\n",
      ".hidden.sql": "not a revision",
      "README.md": "# migrations\n",
      "notes.txt": "-- revision: zzz",
      "old.sql.bak": "x",
    });
    await mkdir(join(dir, "nested"));
    await writeFile(join(dir, "nested", "g.sql"), sql("g"));
    await mkdir(join(dir, "folder.sql"));
    await writeFile(join(root, "outside.sql"), sql("linked", "f"));
    await symlink(join(root, "outside.sql"), join(dir, "g_linked.sql"));
    await symlink(join(root, "nowhere.sql"), join(dir, "h_dangling.sql"));

    const scripts = await loadRevisionDirectory(dir);
    assert.deepEqual(
      scripts.map((s) => [basename(s.path), s.id, s.format]),
      [
        ["a_first.sql", "a", "sql"],
        ["b_second.sql", "b", "sql"],
        ["c_third.ts", "c", "module"],
        ["d_fourth.mts", "d", "module"],
        ["e_fifth.js", "e", "module"],
        ["f_sixth.mjs", "f", "module"],
        ["g_linked.sql", "linked", "sql"],
      ],
    );
    assert.equal(scripts[0]?.path, join(dir, "a_first.sql"));
    assert.equal(scripts[2]?.message, "shared");
  });

  it("sorts by code units, whatever the locale", async () => {
    const dir = await makeDir("order", {
      "b.sql": sql("b"),
      "B.sql": sql("B"),
      "a10.sql": sql("a10"),
      "a9.sql": sql("a9"),
    });
    assert.deepEqual(
      (await loadRevisionDirectory(dir)).map((s) => s.id),
      ["B", "a10", "a9", "b"],
    );
  });

  it("returns nothing for an empty directory", async () => {
    assert.deepEqual(await loadRevisionDirectory(await makeDir("empty", {})), []);
  });

  it("reports a missing directory and suggests fleetway init", async () => {
    const dir = join(root, "does-not-exist");
    await assert.rejects(loadRevisionDirectory(dir), (error: unknown) => {
      assert.ok(error instanceof FleetwayError);
      assert.equal(error.code, ErrorCode.SCRIPT_LOAD_ERROR);
      assert.equal(error.data.path, dir);
      assert.match(error.message, /does not exist.*fleetway init/);
      assert.ok(error.cause !== undefined);
      return true;
    });
  });

  it("reports a path that is a file", async () => {
    const file = join(root, "outside.sql");
    await assert.rejects(loadRevisionDirectory(file), {
      code: ErrorCode.SCRIPT_LOAD_ERROR,
      message: /not a directory/,
    });
  });

  it("propagates the first error in name order, with its path and line", async () => {
    const dir = await makeDir("broken", {
      "a_ok.sql": sql("a"),
      "b_bad.sql": "-- revision: b\n-- down_revison: a\n-- upgrade\n",
      "c_bad.ts": "export const revision = ;",
      "d_bad.sql": "SELECT 1;",
    });
    await assert.rejects(loadRevisionDirectory(dir), (error: unknown) => {
      assert.ok(error instanceof FleetwayError);
      assert.equal(error.code, ErrorCode.SCRIPT_PARSE_ERROR);
      assert.equal(error.data.path, join(dir, "b_bad.sql"));
      assert.equal(error.data.line, 2);
      assert.match(error.message, /b_bad\.sql:2: unknown header field 'down_revison'/);
      return true;
    });
  });

  it("propagates module load errors with their path", async () => {
    const dir = await makeDir("broken-module", {
      "a.sql": sql("a"),
      "b.js": "export const x = 1;\n",
    });
    await assert.rejects(loadRevisionDirectory(dir), {
      code: ErrorCode.SCRIPT_LOAD_ERROR,
      data: { path: join(dir, "b.js"), reason: "missing export 'revision'" },
    });
  });

  it("isRevisionFileName applies the skipping rules", () => {
    for (const name of ["a.sql", "a.ts", "a.mts", "a.js", "a.mjs", "0001_x.sql", "x.data.ts"]) {
      assert.ok(isRevisionFileName(name), name);
    }
    for (const name of [
      "a.d.ts",
      "a.d.mts",
      ".a.sql",
      "_a.ts",
      "a.cjs",
      "a.cts",
      "a.json",
      "a.SQL",
      "a",
    ]) {
      assert.ok(!isRevisionFileName(name), name);
    }
  });
});
