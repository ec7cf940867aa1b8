import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { generateRevisionId } from "../../src/engine/script/generate-revision-id.js";
import { loadModuleRevision } from "../../src/engine/script/load-module-revision.js";
import { parseSqlRevision } from "../../src/engine/script/parse-sql-revision.js";
import {
  renderRevisionFile,
  slugifyMessage,
  type RenderRevisionOptions,
} from "../../src/engine/script/render-revision-file.js";
import type { MigrationContext, RevisionScript } from "../../src/engine/script/revision-script.js";
import { splitSqlStatements } from "../../src/engine/script/split-sql-statements.js";

const createdAt = new Date("2024-05-06T07:08:09.000Z");

const ROOT = { id: "aaaaaaaaaaaa", downRevisions: [], message: "create users" };

const CASES: readonly Omit<RenderRevisionOptions, "format" | "createdAt">[] = [
  ROOT,
  { id: "bbbbbbbbbbbb", downRevisions: ["aaaaaaaaaaaa"], message: "add phone to users" },
  {
    id: "cccccccccccc",
    downRevisions: ["aaaaaaaaaaaa", "bbbbbbbbbbbb"],
    message: "merge heads",
    branchLabels: ["billing", "audit"],
    dependsOn: ["dddddddddddd", "core"],
  },
  {
    id: "eeeeeeeeeeee",
    downRevisions: ["x"],
    message: 'it\'s "quoted" */ and\nwraps',
    branchLabels: ["solo"],
    dependsOn: ["one"],
  },
];

function metadata(script: RevisionScript): unknown {
  const { id, downRevisions, message, branchLabels, dependsOn, transactional } = script;
  return { id, downRevisions, message, branchLabels, dependsOn, transactional };
}

function expected(options: (typeof CASES)[number]): unknown {
  return {
    id: options.id,
    downRevisions: options.downRevisions,
    message: options.message.replace(/\s*\n\s*/g, " "),
    branchLabels: options.branchLabels ?? [],
    dependsOn: options.dependsOn ?? [],
    transactional: true,
  };
}

/** A context that only records queries: enough to run a template's empty bodies. */
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

describe("generateRevisionId", () => {
  it("returns 12 lowercase hex characters, fresh each time", () => {
    const ids = new Set(Array.from({ length: 500 }, () => generateRevisionId()));
    assert.equal(ids.size, 500);
    for (const id of ids) assert.match(id, /^[0-9a-f]{12}$/);
  });

  it("uses the injected randomness", () => {
    const random = (bytes: number) =>
      Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45].slice(0, bytes));
    assert.equal(generateRevisionId(random), "deadbeef0123");
  });
});

describe("slugifyMessage", () => {
  it("lowercases, joins non-alphanumerics with _, and caps the length", () => {
    assert.equal(slugifyMessage("Add phone to Users!"), "add_phone_to_users");
    assert.equal(slugifyMessage("  --weird__ input?? "), "weird_input");
    assert.equal(slugifyMessage("Ünïcode & emoji 🎉"), "n_code_emoji");
    assert.equal(slugifyMessage(""), "");
    const long = slugifyMessage("a very long message that goes on and on and on forever");
    assert.ok(long.length <= 40, long);
    assert.ok(!long.endsWith("_"), long);
  });
});

describe("renderRevisionFile", () => {
  it("names files <id>_<slug>.<format>", () => {
    const base = { id: "abc123def456", downRevisions: [], message: "Add phone", createdAt };
    assert.equal(
      renderRevisionFile({ ...base, format: "sql" }).fileName,
      "abc123def456_add_phone.sql",
    );
    assert.equal(
      renderRevisionFile({ ...base, format: "ts" }).fileName,
      "abc123def456_add_phone.ts",
    );
    assert.equal(
      renderRevisionFile({ ...base, message: "!!!", format: "sql" }).fileName,
      "abc123def456.sql",
    );
  });

  it("writes the SQL header with none for roots, the create date and both sections", () => {
    const { content } = renderRevisionFile({ ...ROOT, format: "sql", createdAt });
    assert.match(content, /^-- down_revision: none$/m);
    assert.match(content, /^-- create_date: 2024-05-06T07:08:09\.000Z$/m);
    assert.match(content, /^-- upgrade$/m);
    assert.match(content, /^-- downgrade$/m);
  });

  for (const options of CASES) {
    it(`round-trips SQL: ${options.message.split("\n")[0] ?? ""}`, () => {
      const { fileName, content } = renderRevisionFile({ ...options, format: "sql", createdAt });
      const script = parseSqlRevision(content, fileName);
      assert.deepEqual(metadata(script), expected(options));
      assert.ok(script.downgrade !== null, "has a downgrade section");
      // The placeholders are comments: the new file runs nothing until it is written.
      for (const body of [script.upgrade, script.downgrade]) {
        assert.ok(body.kind === "sql");
        assert.deepEqual(splitSqlStatements(body.sql), []);
      }
    });
  }

  describe("TypeScript template", () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "fleetway-render-"));
      await writeFile(join(dir, "package.json"), '{ "type": "module" }\n');
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    for (const options of CASES) {
      it(`round-trips TS: ${options.message.split("\n")[0] ?? ""}`, async () => {
        const { fileName, content } = renderRevisionFile({ ...options, format: "ts", createdAt });
        assert.doesNotMatch(content, /from\s+["']fleetway["']/, "does not import the package");
        const path = join(dir, fileName);
        await writeFile(path, content);
        const script = await loadModuleRevision(path);
        assert.deepEqual(metadata(script), expected(options));
        assert.equal(script.format, "module");
        assert.ok(script.downgrade !== null, "has a downgrade");
        const queries: string[] = [];
        for (const body of [script.upgrade, script.downgrade]) {
          assert.ok(body.kind === "function");
          await body.run(recordingContext(queries));
        }
        assert.deepEqual(queries, [], "the template runs nothing");
      });
    }
  });
});
