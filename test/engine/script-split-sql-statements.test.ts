import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { splitSqlStatements } from "../../src/engine/script/split-sql-statements.js";

/** The statements' texts only. */
function texts(sql: string): string[] {
  return splitSqlStatements(sql).map((statement) => statement.sql);
}

describe("splitSqlStatements", () => {
  it("splits at top-level semicolons, with offsets and lines", () => {
    const sql = "CREATE TABLE a (id int);\n\n  CREATE INDEX CONCURRENTLY ix ON a (id);\nSELECT 1";
    const statements = splitSqlStatements(sql);
    assert.deepEqual(statements, [
      { sql: "CREATE TABLE a (id int)", offset: 0, line: 1 },
      { sql: "CREATE INDEX CONCURRENTLY ix ON a (id)", offset: 28, line: 3 },
      { sql: "SELECT 1", offset: 68, line: 4 },
    ]);
    for (const statement of statements) {
      assert.equal(
        sql.slice(statement.offset, statement.offset + statement.sql.length),
        statement.sql,
      );
    }
  });

  it("drops empty and comment-only statements", () => {
    assert.deepEqual(texts(""), []);
    assert.deepEqual(texts(" ;;\n ; "), []);
    assert.deepEqual(texts("-- nothing to do\n/* really */"), []);
    assert.deepEqual(texts("SELECT 1; -- trailing\n/* done */\n;"), ["SELECT 1"]);
    assert.deepEqual(texts("-- merge revision, nothing to run\n"), []);
  });

  it("starts a statement at its first token, after leading comments", () => {
    const sql =
      "-- first\n/* block; */\nSELECT 1;\n-- second; still a comment\nSELECT 2 -- inline;\n;";
    const statements = splitSqlStatements(sql);
    assert.deepEqual(
      statements.map(({ sql: text, line }) => ({ text, line })),
      [
        { text: "SELECT 1", line: 3 },
        { text: "SELECT 2 -- inline;", line: 5 },
      ],
    );
    assert.equal(statements[0]?.offset, sql.indexOf("SELECT 1"));
  });

  it("skips semicolons in standard strings with '' escapes", () => {
    assert.deepEqual(texts("SELECT 'a;b', 'it''s; -- not /* a comment';SELECT ';'"), [
      "SELECT 'a;b', 'it''s; -- not /* a comment'",
      "SELECT ';'",
    ]);
    // standard_conforming_strings: a backslash does not escape the quote.
    assert.deepEqual(texts("SELECT 'C:\\';SELECT 2"), ["SELECT 'C:\\'", "SELECT 2"]);
  });

  it("honours backslash escapes in E'...' strings, and only there", () => {
    assert.deepEqual(texts("SELECT E'it\\'s; fine', e'\\\\';SELECT 2"), [
      "SELECT E'it\\'s; fine', e'\\\\'",
      "SELECT 2",
    ]);
    // `some'...'` is not an escape string: the word merely ends in e.
    assert.deepEqual(texts("SELECT some'\\';SELECT 2"), ["SELECT some'\\'", "SELECT 2"]);
    assert.deepEqual(texts("SELECT U&'d\\0061t;a', B'101', X'1F', N'x;y';SELECT 2"), [
      "SELECT U&'d\\0061t;a', B'101', X'1F', N'x;y'",
      "SELECT 2",
    ]);
  });

  it("skips semicolons in quoted identifiers", () => {
    assert.deepEqual(texts('CREATE TABLE "a;b" ("c""; d" int);SELECT 1'), [
      'CREATE TABLE "a;b" ("c""; d" int)',
      "SELECT 1",
    ]);
  });

  it("keeps plpgsql bodies in dollar quotes whole", () => {
    const fn = [
      "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$",
      "BEGIN",
      "  NEW.updated_at := now(); -- keep it fresh;",
      "  /* a ; in a comment */",
      "  RAISE NOTICE 'it''s; fine';",
      "  RETURN NEW;",
      "END;",
      "$$",
    ].join("\n");
    const tagged = [
      "CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$",
      "BEGIN",
      "  RETURN $$;$$ || $x$ ; $x$;",
      "END;",
      "$body$",
    ].join("\n");
    const sql = `${fn};\nCREATE TRIGGER t BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION touch();\n${tagged};\nDO $do$ BEGIN PERFORM 1; END $do$;`;
    assert.deepEqual(texts(sql), [
      fn,
      "CREATE TRIGGER t BEFORE UPDATE ON a FOR EACH ROW EXECUTE FUNCTION touch()",
      tagged,
      "DO $do$ BEGIN PERFORM 1; END $do$",
    ]);
  });

  it("does not take parameters or $ in identifiers for dollar quotes", () => {
    assert.deepEqual(texts("PREPARE p AS SELECT $1; SELECT a$b$c FROM t;SELECT 3"), [
      "PREPARE p AS SELECT $1",
      "SELECT a$b$c FROM t",
      "SELECT 3",
    ]);
  });

  it("handles nested block comments and comment markers in strings", () => {
    assert.deepEqual(
      texts("/* outer /* inner; */ still comment; */ SELECT 1; SELECT '/*';SELECT 2"),
      ["SELECT 1", "SELECT '/*'", "SELECT 2"],
    );
    assert.deepEqual(texts("SELECT '--';SELECT \"--x\";SELECT $$--$$;SELECT 4"), [
      "SELECT '--'",
      'SELECT "--x"',
      "SELECT $$--$$",
      "SELECT 4",
    ]);
    assert.deepEqual(texts("SELECT 1 /* a; /* b; */ c; */ + 1;SELECT 2"), [
      "SELECT 1 /* a; /* b; */ c; */ + 1",
      "SELECT 2",
    ]);
  });

  it("keeps semicolons inside parentheses (CREATE RULE ... DO (...; ...))", () => {
    const rule = "CREATE RULE r AS ON INSERT TO a DO ALSO (INSERT INTO log VALUES (1); NOTIFY a)";
    assert.deepEqual(texts(`${rule};SELECT 1`), [rule, "SELECT 1"]);
  });

  it("keeps SQL-standard function bodies (BEGIN ATOMIC ... END) whole, as psql does", () => {
    const fn = [
      "CREATE OR REPLACE FUNCTION f(a int) RETURNS int LANGUAGE sql",
      "BEGIN ATOMIC",
      "  INSERT INTO log VALUES (CASE WHEN a > 0 THEN 'pos' ELSE 'neg' END);",
      "  SELECT a + 1;",
      "END",
    ].join("\n");
    const proc = "create procedure p() begin atomic insert into t values (1); end";
    assert.deepEqual(texts(`${fn};\nBEGIN;\n${proc};\nCOMMIT;`), [fn, "BEGIN", proc, "COMMIT"]);
  });

  it("returns an unterminated string, quote or comment as the rest of the script", () => {
    assert.deepEqual(texts("SELECT 1; SELECT 'oops; SELECT 2;"), [
      "SELECT 1",
      "SELECT 'oops; SELECT 2;",
    ]);
    assert.deepEqual(texts("SELECT 1; SELECT $$ oops; "), ["SELECT 1", "SELECT $$ oops;"]);
    assert.deepEqual(texts("SELECT 1; /* oops; "), ["SELECT 1"]);
  });

  it("counts lines through strings and comments that span lines", () => {
    const sql = "SELECT 'a\nb';\n/* x\ny */ SELECT $$\n;\n$$;\n\n\nSELECT 3;";
    assert.deepEqual(
      splitSqlStatements(sql).map((statement) => statement.line),
      [1, 4, 9],
    );
  });
});
