import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ErrorCode, FleetwayError } from "../../src/engine/errors.js";
import { revisionChecksum } from "../../src/engine/script/checksum.js";
import { parseSqlRevision } from "../../src/engine/script/parse-sql-revision.js";
import type { MigrationBody } from "../../src/engine/script/revision-script.js";

const PATH = "migrations/x.sql";

function sqlOf(body: MigrationBody | null): { sql: string; line: number } {
  assert.ok(body !== null && body.kind === "sql", "an SQL body");
  return { sql: body.sql, line: body.line };
}

/** Asserts a SCRIPT_PARSE_ERROR at `line` whose reason matches `reason`. */
function assertParseError(text: string, line: number, reason: RegExp): void {
  assert.throws(
    () => parseSqlRevision(text, PATH),
    (error: unknown) => {
      assert.ok(error instanceof FleetwayError);
      assert.equal(error.code, ErrorCode.SCRIPT_PARSE_ERROR);
      assert.equal(error.data.path, PATH);
      assert.equal(error.data.line, line);
      assert.match(String(error.data.reason), reason);
      assert.ok(error.message.startsWith(`${PATH}:${line}: `), error.message);
      return true;
    },
  );
}

describe("parseSqlRevision", () => {
  it("parses the documented example", () => {
    const text = [
      "-- revision: 3f2a9c1b7d10", //                                  1
      "-- down_revision: 1a2b3c4d5e6f", //                             2
      "-- message: add phone to users", //                             3
      "-- branch_labels: billing", //                                  4
      "-- depends_on: 9e8d7c6b5a4f", //                                5
      "-- transactional: false", //                                    6
      "", //                                                           7
      "-- upgrade", //                                                 8
      "ALTER TABLE users ADD COLUMN phone text;", //                   9
      "CREATE INDEX ix_users_phone ON users (phone);", //              10
      "", //                                                           11
      "-- downgrade", //                                               12
      "DROP INDEX ix_users_phone;", //                                 13
      "ALTER TABLE users DROP COLUMN phone;", //                       14
      "",
    ].join("\n");
    const script = parseSqlRevision(text, PATH);
    assert.equal(script.id, "3f2a9c1b7d10");
    assert.deepEqual(script.downRevisions, ["1a2b3c4d5e6f"]);
    assert.equal(script.message, "add phone to users");
    assert.deepEqual(script.branchLabels, ["billing"]);
    assert.deepEqual(script.dependsOn, ["9e8d7c6b5a4f"]);
    assert.equal(script.transactional, false);
    assert.equal(script.path, PATH);
    assert.equal(script.format, "sql");
    assert.equal(script.checksum, revisionChecksum(text));
    assert.match(script.checksum, /^[0-9a-f]{64}$/);
    assert.deepEqual(sqlOf(script.upgrade), {
      sql: "ALTER TABLE users ADD COLUMN phone text;\nCREATE INDEX ix_users_phone ON users (phone);",
      line: 9,
    });
    assert.deepEqual(sqlOf(script.downgrade), {
      sql: "DROP INDEX ix_users_phone;\nALTER TABLE users DROP COLUMN phone;",
      line: 13,
    });
  });

  it("reads a root revision from 'none', 'None' or an empty value, with defaults", () => {
    for (const down of ["none", "None", ""]) {
      const script = parseSqlRevision(
        `-- revision: aaa\n-- down_revision: ${down}\n-- upgrade\nSELECT 1;\n`,
        PATH,
      );
      assert.deepEqual(script.downRevisions, [], down);
      assert.equal(script.message, "");
      assert.deepEqual(script.branchLabels, []);
      assert.deepEqual(script.dependsOn, []);
      assert.equal(script.transactional, true);
    }
  });

  it("reads a merge revision with several down revisions and empty sections", () => {
    const script = parseSqlRevision(
      "-- revision: m1\n-- down_revision: a1, b2 ,c3\n-- message: merge heads\n\n-- upgrade\n\n-- downgrade\n",
      PATH,
    );
    assert.deepEqual(script.downRevisions, ["a1", "b2", "c3"]);
    assert.deepEqual(sqlOf(script.upgrade), { sql: "", line: 6 });
    assert.deepEqual(sqlOf(script.downgrade), { sql: "", line: 8 });
  });

  it("reads comma-separated branch labels and depends_on (ids or labels)", () => {
    const script = parseSqlRevision(
      "-- revision: r\n-- down_revision: none\n-- branch_labels: billing, audit\n" +
        "-- depends_on: 9e8d7c6b5a4f,core\n-- upgrade\n",
      PATH,
    );
    assert.deepEqual(script.branchLabels, ["billing", "audit"]);
    assert.deepEqual(script.dependsOn, ["9e8d7c6b5a4f", "core"]);
  });

  it("reads transactional true/false in any case", () => {
    const parse = (value: string) =>
      parseSqlRevision(
        `-- revision: r\n-- down_revision:\n-- transactional: ${value}\n-- upgrade\n`,
        PATH,
      ).transactional;
    assert.equal(parse("false"), false);
    assert.equal(parse("FALSE"), false);
    assert.equal(parse("true"), true);
    assert.equal(parse("True"), true);
  });

  it("makes a revision without downgrade marker irreversible", () => {
    const script = parseSqlRevision(
      "-- revision: r\n-- down_revision: p\n-- upgrade\nDROP TABLE t;",
      PATH,
    );
    assert.equal(script.downgrade, null);
    assert.deepEqual(sqlOf(script.upgrade), { sql: "DROP TABLE t;", line: 4 });
  });

  it("allows free-text comments, URLs and blank lines in the header", () => {
    const script = parseSqlRevision(
      [
        "-- Note: written by hand",
        "-- See https://example.com/ticket/1 and http://x.test",
        "--",
        "-- revision: r",
        "",
        "-- down_revision: p",
        "-- create_date: 2024-01-02T03:04:05.000Z",
        "  -- message: indented",
        "-- upgrade",
      ].join("\n"),
      PATH,
    );
    assert.equal(script.id, "r");
    assert.equal(script.message, "indented");
  });

  it("finds markers case-insensitively, trimmed, and keeps comments in bodies", () => {
    const text =
      "-- revision: r\n-- down_revision: p\n  -- UPGRADE  \n\n\n-- add a column\nALTER TABLE t ADD c int;\n\n\n" +
      "--Downgrade\nALTER TABLE t DROP c;  \n\n";
    const script = parseSqlRevision(text, PATH);
    assert.deepEqual(sqlOf(script.upgrade), {
      sql: "-- add a column\nALTER TABLE t ADD c int;",
      line: 6,
    });
    assert.deepEqual(sqlOf(script.downgrade), { sql: "ALTER TABLE t DROP c;  ", line: 11 });
  });

  it("accepts CRLF line endings and a byte-order mark, keeping line numbers", () => {
    const text =
      "\uFEFF-- revision: r\r\n-- down_revision: p\r\n-- upgrade\r\nSELECT 1;\r\nSELECT 2;\r\n";
    const script = parseSqlRevision(text, PATH);
    assert.equal(script.id, "r");
    assert.deepEqual(sqlOf(script.upgrade), { sql: "SELECT 1;\nSELECT 2;", line: 4 });
    assert.equal(script.checksum, revisionChecksum(text.replaceAll("\r\n", "\n")));
  });

  describe("errors, each with its line", () => {
    it("unknown lowercase header field (a typo that would make a root)", () => {
      assertParseError(
        "-- revision: r\n-- down_revision: p\n-- down_revison: q\n-- upgrade\n",
        3,
        /^unknown header field 'down_revison'/,
      );
      assertParseError(
        "-- revision: r\n-- todo:fix\n-- upgrade\n",
        2,
        /unknown header field 'todo'/,
      );
    });

    it("message names the file and line", () => {
      assert.throws(
        () => parseSqlRevision("-- revision: r\n-- down_revision: p\n-- down_revison: q\n", PATH),
        { message: /^migrations\/x\.sql:3: unknown header field 'down_revison'/ },
      );
    });

    it("duplicate header field", () => {
      assertParseError(
        "-- revision: r\n-- down_revision: p\n-- revision: s\n-- upgrade\n",
        3,
        /duplicate header field 'revision' \(first at line 1\)/,
      );
    });

    it("missing revision, missing down_revision, empty revision", () => {
      assertParseError("-- down_revision: p\n-- upgrade\n", 1, /missing header field 'revision'/);
      assertParseError("-- revision: r\n-- upgrade\n", 1, /missing header field 'down_revision'/);
      assertParseError("-- revision:\n-- down_revision: p\n-- upgrade\n", 1, /empty 'revision'/);
    });

    it("a capitalised field is a comment, so the required field is missing", () => {
      assertParseError(
        "-- revision: r\n-- Down_revision: p\n-- upgrade\n",
        1,
        /missing header field 'down_revision'/,
      );
    });

    it("bad transactional value", () => {
      assertParseError(
        "-- revision: r\n-- down_revision: p\n\n-- transactional: no\n-- upgrade\n",
        4,
        /'transactional' must be true or false, not 'no'/,
      );
    });

    it("empty item in a list", () => {
      assertParseError(
        "-- revision: r\n-- down_revision: a,,b\n-- upgrade\n",
        2,
        /empty item in 'down_revision'/,
      );
      assertParseError(
        "-- revision: r\n-- down_revision: a\n-- branch_labels: x,\n-- upgrade\n",
        3,
        /empty item in 'branch_labels'/,
      );
    });

    it("SQL before the upgrade marker", () => {
      assertParseError(
        "-- revision: r\n-- down_revision: p\nCREATE TABLE t ();\n-- upgrade\n",
        3,
        /SQL before the '-- upgrade' marker/,
      );
      assertParseError("/* header */\n-- upgrade\n", 1, /SQL before the '-- upgrade' marker/);
    });

    it("missing upgrade marker", () => {
      assertParseError("-- revision: r\n-- down_revision: p\n", 1, /no '-- upgrade' marker/);
      assertParseError("", 1, /no '-- upgrade' marker/);
    });

    it("downgrade before upgrade", () => {
      assertParseError(
        "-- revision: r\n-- down_revision: p\n-- downgrade\nDROP TABLE t;\n-- upgrade\n",
        3,
        /'-- downgrade' marker before the '-- upgrade' marker/,
      );
    });

    it("duplicate markers", () => {
      assertParseError(
        "-- revision: r\n-- down_revision: p\n-- upgrade\nSELECT 1;\n-- upgrade\n",
        5,
        /duplicate '-- upgrade' marker \(first at line 3\)/,
      );
      assertParseError(
        "-- revision: r\n-- down_revision: p\n-- upgrade\n-- downgrade\nSELECT 1;\n-- downgrade\n",
        6,
        /duplicate '-- downgrade' marker \(first at line 4\)/,
      );
      assertParseError(
        "-- revision: r\n-- down_revision: p\n-- upgrade\n-- downgrade\n-- upgrade\n",
        5,
        /duplicate '-- upgrade' marker/,
      );
    });
  });
});

describe("parseSqlRevision: transaction control", () => {
  const file = (body: string, extraHeader = ""): string =>
    [
      "-- revision: abc",
      "-- down_revision: none",
      ...(extraHeader === "" ? [] : [extraHeader]),
      "",
      "-- upgrade",
      body,
      "",
    ].join("\n");

  it("refuses BEGIN, COMMIT, END, ROLLBACK and friends in a transactional revision, at their line", () => {
    assertParseError(file("CREATE TABLE a (id int);\nCOMMIT;"), 6, /'COMMIT' in a transactional/);
    assertParseError(file("begin;\nCREATE TABLE a (id int);"), 5, /'BEGIN'/);
    assertParseError(file("CREATE TABLE a (id int);\n\n  end;"), 7, /'END'/);
    assertParseError(file("START TRANSACTION;"), 5, /'START TRANSACTION'/);
    assertParseError(file("ROLLBACK;"), 5, /'ROLLBACK'.*transactional: false/);
    assertParseError(file("PREPARE TRANSACTION 'x';"), 5, /'PREPARE TRANSACTION'/);
    assertParseError(
      [
        "-- revision: abc",
        "-- down_revision: none",
        "-- upgrade",
        "CREATE TABLE a (id int);",
        "-- downgrade",
        "DROP TABLE a; COMMIT;",
      ].join("\n"),
      6,
      /'COMMIT'/,
    );
  });

  it("allows savepoints, and BEGIN/END inside function bodies, strings and comments", () => {
    const body = [
      "SAVEPOINT s1;",
      "ROLLBACK TO SAVEPOINT s1;",
      "RELEASE SAVEPOINT s1;",
      "DO $$ BEGIN PERFORM 1; END $$;",
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
      "SELECT 'COMMIT';",
      "-- COMMIT",
      "CREATE TABLE begin_log (ended boolean);",
    ].join("\n");
    assert.equal(parseSqlRevision(file(body), PATH).transactional, true);
  });

  it("leaves transaction control to a revision marked transactional: false", () => {
    const script = parseSqlRevision(
      file("COMMIT;\nCREATE INDEX CONCURRENTLY i ON a (id);\nBEGIN;", "-- transactional: false"),
      PATH,
    );
    assert.equal(script.transactional, false);
  });
});
