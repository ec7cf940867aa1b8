import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { ErrorCode, FleetwayError } from "../../src/engine/errors.js";
import { revisionChecksum } from "../../src/engine/script/checksum.js";
import { loadModuleRevision } from "../../src/engine/script/load-module-revision.js";
import { createModuleImporter } from "../../src/engine/script/module-importer.js";
import type {
  MigrationBody,
  MigrationContext,
  RevisionScript,
} from "../../src/engine/script/revision-script.js";

/** A context that records queries: the module's functions are what is under test, not SQL. */
function recordingContext(queries: string[]): MigrationContext {
  return {
    query: (sql) => {
      queries.push(sql);
      return Promise.resolve({ rows: [], rowCount: 0 });
    },
    schema: "public",
    signal: new AbortController().signal,
    log: () => undefined,
  };
}

async function run(body: MigrationBody | null): Promise<string[]> {
  assert.ok(body !== null && body.kind === "function", "a function body");
  const queries: string[] = [];
  await body.run(recordingContext(queries));
  return queries;
}

function meta(script: RevisionScript): unknown {
  const { id, downRevisions, message, branchLabels, dependsOn, transactional, format } = script;
  return { id, downRevisions, message, branchLabels, dependsOn, transactional, format };
}

const FULL_TS = `
import { quote } from "./_helpers.ts";

interface Ctx {
  query(sql: string): Promise<unknown>;
}

export const revision: string = "3f2a9c1b7d10";
export const down_revision: string[] = ["1a2b3c4d5e6f", "aaaaaaaaaaaa"];
export const message = "backfill phones";
export const branch_labels = "billing";
export const depends_on = ["9e8d7c6b5a4f", "core"];
export const transactional = false;

export async function upgrade(ctx: Ctx): Promise<void> {
  await ctx.query(\`UPDATE users SET phone = \${quote("")}\`);
}

export async function downgrade(ctx: Ctx): Promise<void> {
  await ctx.query("UPDATE users SET phone = NULL");
}
`;

const HELPER_TS = `export const quote = (text: string): string => "'" + text.replaceAll("'", "''") + "'";\n`;

describe("loadModuleRevision", () => {
  let dir: string;
  let count = 0;
  /** Writes `content` to a fresh file name in the ES-module temp dir. */
  const write = async (extension: string, content: string, where = dir): Promise<string> => {
    const path = join(where, `rev${++count}${extension}`);
    await writeFile(path, content);
    return path;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "fleetway-modules-"));
    await writeFile(join(dir, "package.json"), '{ "type": "module" }\n');
    await writeFile(join(dir, "_helpers.ts"), HELPER_TS);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("loads a .ts revision with every export, importing a helper", async () => {
    const path = await write(".ts", FULL_TS);
    const script = await loadModuleRevision(path);
    assert.deepEqual(meta(script), {
      id: "3f2a9c1b7d10",
      downRevisions: ["1a2b3c4d5e6f", "aaaaaaaaaaaa"],
      message: "backfill phones",
      branchLabels: ["billing"],
      dependsOn: ["9e8d7c6b5a4f", "core"],
      transactional: false,
      format: "module",
    });
    assert.equal(script.path, path);
    assert.equal(script.checksum, revisionChecksum(await readFile(path, "utf8")));
    assert.deepEqual(await run(script.upgrade), ["UPDATE users SET phone = ''"]);
    assert.deepEqual(await run(script.downgrade), ["UPDATE users SET phone = NULL"]);
  });

  it("loads .mts, .js and .mjs revisions, with defaults for optional exports", async () => {
    const js = `export const revision = "r"; export const down_revision = null;
      export async function upgrade(ctx) { await ctx.query("SELECT 1"); }`;
    const mts = `export const revision = "r"; export const down_revision: string | null = null;
      export async function upgrade(ctx: { query(sql: string): Promise<unknown> }): Promise<void> { await ctx.query("SELECT 1"); }`;
    for (const [extension, source] of [
      [".mts", mts],
      [".js", js],
      [".mjs", js],
    ] as const) {
      const script = await loadModuleRevision(await write(extension, source));
      assert.deepEqual(
        meta(script),
        {
          id: "r",
          downRevisions: [],
          message: "",
          branchLabels: [],
          dependsOn: [],
          transactional: true,
          format: "module",
        },
        extension,
      );
      assert.equal(script.downgrade, null, "no downgrade export: irreversible");
      assert.deepEqual(await run(script.upgrade), ["SELECT 1"]);
    }
  });

  it("loads a .ts revision outside an ES-module package (compiled as CommonJS)", async () => {
    const cjsDir = await mkdtemp(join(tmpdir(), "fleetway-cjs-"));
    try {
      const script = await loadModuleRevision(
        await write(
          ".ts",
          `export const revision = "c"; export const down_revision = "p";
           export const upgrade = async (): Promise<void> => {};`,
          cjsDir,
        ),
      );
      assert.equal(script.id, "c");
      assert.deepEqual(script.downRevisions, ["p"]);
    } finally {
      await rm(cjsDir, { recursive: true, force: true });
    }
  });

  it("loads .ts revisions in and outside an ES-module package through one importer, with helpers", async () => {
    const cjsDir = await mkdtemp(join(tmpdir(), "fleetway-cjs-"));
    const importer = createModuleImporter();
    try {
      await writeFile(join(cjsDir, "_helpers.ts"), HELPER_TS);
      const esm = await loadModuleRevision(await write(".ts", FULL_TS), { importer });
      const cjs = await loadModuleRevision(
        await write(
          ".ts",
          `import { quote } from "./_helpers.ts";
           export const revision = "c"; export const down_revision = null;
           export async function upgrade(ctx: { query(sql: string): Promise<unknown> }): Promise<void> {
             await ctx.query("SELECT " + quote("it's"));
           }`,
          cjsDir,
        ),
        { importer },
      );
      assert.deepEqual(await run(esm.upgrade), ["UPDATE users SET phone = ''"]);
      assert.equal(cjs.id, "c");
      assert.deepEqual(await run(cjs.upgrade), ["SELECT 'it''s'"]);
    } finally {
      await importer.close();
      await rm(cjsDir, { recursive: true, force: true });
    }
  });

  it("accepts a down_revision string, an empty array and synchronous functions", async () => {
    const script = await loadModuleRevision(
      await write(
        ".js",
        `export const revision = "r"; export const down_revision = "p";
         export const depends_on = "core"; export const branch_labels = [];
         export function upgrade(ctx) { ctx.query("sync"); }
         export function downgrade() {}`,
      ),
    );
    assert.deepEqual(script.downRevisions, ["p"]);
    assert.deepEqual(script.dependsOn, ["core"]);
    assert.deepEqual(script.branchLabels, []);
    assert.deepEqual(await run(script.upgrade), ["sync"]);
    assert.deepEqual(await run(script.downgrade), []);
  });

  it("sees edits of a file already loaded", async () => {
    for (const extension of [".ts", ".js"]) {
      const path = await write(
        extension,
        `export const revision = "v1"; export const down_revision = null; export async function upgrade() {}`,
      );
      assert.equal((await loadModuleRevision(path)).id, "v1");
      await writeFile(
        path,
        `export const revision = "v2"; export const down_revision = null; export async function upgrade() {}`,
      );
      assert.equal((await loadModuleRevision(path)).id, "v2", extension);
    }
  });

  describe("a .js revision in a CommonJS package (also cached by real path in require.cache)", () => {
    let cjsDir: string;
    before(async () => {
      cjsDir = await mkdtemp(join(tmpdir(), "fleetway-cjs-"));
    });
    after(async () => {
      await rm(cjsDir, { recursive: true, force: true });
    });
    const source = (id: string, extra = ""): string =>
      `${extra}exports.revision = "${id}"; exports.down_revision = null; exports.upgrade = async () => {};`;

    it("is loaded anew once edited, by absolute or relative path or through a symlink", async () => {
      const absolute = await write(".js", source("a1"), cjsDir);
      const relativePath = relative(process.cwd(), await write(".js", source("r1"), cjsDir));
      const target = await write(".js", source("s1"), cjsDir);
      const link = join(await mkdtemp(join(cjsDir, "links-")), "linked.js");
      await symlink(target, link);
      for (const [path, file, id] of [
        [absolute, absolute, "a"],
        [relativePath, relativePath, "r"],
        [link, target, "s"],
      ] as const) {
        assert.equal((await loadModuleRevision(path)).id, `${id}1`);
        await writeFile(file, source(`${id}2`));
        assert.equal((await loadModuleRevision(path)).id, `${id}2`, path);
      }
    });

    it("is evaluated once when unchanged, also when another revision requires it", async () => {
      const counter = `fleetwayEvaluations${++count}`;
      const base = join(cjsDir, `base${count}.js`);
      await writeFile(
        base,
        source("base", `globalThis.${counter} = (globalThis.${counter} ?? 0) + 1; `),
      );
      const next = await write(
        ".js",
        `const base = require(${JSON.stringify(base)});
         exports.revision = "next"; exports.down_revision = base.revision;
         exports.upgrade = async () => {};`,
        cjsDir,
      );
      const importer = createModuleImporter();
      try {
        assert.deepEqual((await loadModuleRevision(next, { importer })).downRevisions, ["base"]);
        assert.equal((await loadModuleRevision(base, { importer })).id, "base");
        assert.equal((await loadModuleRevision(base, { importer })).id, "base");
        assert.equal((globalThis as Record<string, unknown>)[counter], 1);
      } finally {
        await importer.close();
      }
    });
  });

  describe("validation errors", () => {
    const base = {
      revision: '"r"',
      down_revision: "null",
      upgrade: "async function () {}",
    } as const;
    const cases: readonly [string, Record<string, string | undefined>, RegExp][] = [
      ["missing revision", { revision: undefined }, /^missing export 'revision'$/],
      [
        "numeric revision",
        { revision: "42" },
        /'revision' must be a non-empty string, not a number/,
      ],
      [
        "empty revision",
        { revision: '""' },
        /'revision' must be a non-empty string, not an empty string/,
      ],
      [
        "missing down_revision",
        { down_revision: undefined },
        /missing export 'down_revision' \(null for a root/,
      ],
      [
        "numeric down_revision",
        { down_revision: "1" },
        /'down_revision' must be a non-empty string or an array of them, not a number/,
      ],
      [
        "bad down_revision item",
        { down_revision: '["a", 2]' },
        /'down_revision' .* not an array holding a number/,
      ],
      ["empty down_revision", { down_revision: '""' }, /'down_revision' .* not an empty string/],
      ["non-string message", { message: "1" }, /'message' must be a string, not a number/],
      ["bad branch_labels", { branch_labels: "{}" }, /'branch_labels' .* not an object/],
      ["bad depends_on", { depends_on: "[null]" }, /'depends_on' .* not an array holding null/],
      [
        "string transactional",
        { transactional: '"false"' },
        /'transactional' must be true or false, not a string/,
      ],
      ["missing upgrade", { upgrade: undefined }, /^missing export 'upgrade'$/],
      [
        "non-function upgrade",
        { upgrade: '"SELECT 1"' },
        /'upgrade' must be a function, not a string/,
      ],
      ["non-function downgrade", { downgrade: "null" }, /'downgrade' must be a function, not null/],
      [
        "camelCase export",
        { downRevision: '"p"' },
        /unknown export 'downRevision'; did you mean 'down_revision'\?/,
      ],
      ["camelCase labels", { branchLabels: '["x"]' }, /did you mean 'branch_labels'/],
    ];
    for (const [name, overrides, reason] of cases) {
      it(name, async () => {
        const exports = Object.entries<string | undefined>({ ...base, ...overrides })
          .filter((entry): entry is [string, string] => entry[1] !== undefined)
          .map(([key, value]) => `export const ${key} = ${value};`)
          .join("\n");
        const path = await write(".js", exports);
        await assert.rejects(loadModuleRevision(path), (error: unknown) => {
          assert.ok(error instanceof FleetwayError);
          assert.equal(error.code, ErrorCode.SCRIPT_LOAD_ERROR);
          assert.equal(error.data.path, path);
          assert.match(String(error.data.reason), reason);
          assert.ok(error.message.startsWith(`${path}: `));
          return true;
        });
      });
    }

    it("hints at named exports when the metadata is a default export", async () => {
      const path = await write(
        ".mjs",
        `export default { revision: "r", down_revision: null, upgrade() {} };`,
      );
      await assert.rejects(loadModuleRevision(path), {
        code: ErrorCode.SCRIPT_LOAD_ERROR,
        message: /missing export 'revision' \(use named exports, not a default export\)/,
      });
    });
  });

  describe("import errors, wrapped with their cause", () => {
    const assertWrapped = async (path: string, reason: RegExp, cause?: RegExp) => {
      await assert.rejects(loadModuleRevision(path), (error: unknown) => {
        assert.ok(error instanceof FleetwayError);
        assert.equal(error.code, ErrorCode.SCRIPT_LOAD_ERROR);
        assert.equal(error.data.path, path);
        assert.match(String(error.data.reason), reason);
        assert.ok(error.cause instanceof Error, "cause set");
        if (cause !== undefined) assert.match(error.cause.message, cause);
        return true;
      });
    };

    it("a TypeScript syntax error", async () => {
      await assertWrapped(
        await write(".ts", "export const revision = ;\n"),
        /^cannot import the module: /,
      );
    });

    it("a JavaScript syntax error", async () => {
      await assertWrapped(
        await write(".mjs", "export const = 1;\n"),
        /^cannot import the module: /,
      );
    });

    it("a module that throws while loading", async () => {
      await assertWrapped(
        await write(".ts", 'throw new Error("boom at load");\nexport {};\n'),
        /boom at load/,
        /^boom at load$/,
      );
    });

    it("a module importing something missing", async () => {
      await assertWrapped(
        await write(
          ".ts",
          'import { nope } from "./_missing.ts";\nexport const revision = nope;\n',
        ),
        /^cannot import the module: /,
      );
    });

    it("a file that does not exist", async () => {
      await assertWrapped(join(dir, "missing.ts"), /^cannot read the file: /);
    });

    it("a directory named like a module", async () => {
      const path = join(dir, "folder.ts");
      await mkdir(path);
      await assertWrapped(path, /^cannot read the file: /);
    });
  });
});
