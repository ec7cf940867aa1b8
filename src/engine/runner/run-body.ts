import { assertNever } from "../errors.js";
import type { Direction } from "../plan/migration-plan.js";
import type { MigrationBody, MigrationContext, RevisionScript } from "../script/revision-script.js";
import { splitSqlStatements } from "../script/split-sql-statements.js";
import { dropInvalidIndexesOf } from "./invalid-indexes.js";
import type { RunSession } from "./run-session.js";
import { migrationFailed, type SqlOrigin } from "./step-error.js";

/**
 * Runs one direction of a revision on the session's connection. Inside a transaction a SQL body
 * goes to the server as one query (one round trip, PostgreSQL reports the failing position in it);
 * outside one it is split into statements, because a multi-statement query is an implicit
 * transaction block and CREATE INDEX CONCURRENTLY refuses to run in one.
 *
 * `around.prelude` (BEGIN and the step's timeouts) and `around.epilogue` (the bookkeeping and
 * COMMIT) are sent in the same query as a SQL body that runs in a transaction, so a step costs one
 * round trip; positions are still reported within the body.
 *
 * @throws FleetwayError MIGRATION_FAILED naming the revision, SQLSTATE, position and file line
 */
export async function runRevisionBody(
  session: RunSession,
  script: RevisionScript,
  direction: Direction,
  body: MigrationBody,
  inTransaction: boolean,
  around: { readonly prelude: string; readonly epilogue?: string } = { prelude: "" },
): Promise<void> {
  const { prelude } = around;
  // A newline ends a trailing `--` comment and `;` a statement the body left open.
  const epilogue = around.epilogue === undefined ? "" : `\n;\n${around.epilogue}`;
  let origin: SqlOrigin | null = null;
  try {
    switch (body.kind) {
      case "sql": {
        if (inTransaction) {
          origin = {
            sql: body.sql,
            line: body.line,
            singleStatement: false,
            offset: prelude.length,
          };
          const sql = body.sql.trim() === "" ? "" : body.sql;
          if (prelude + sql + epilogue !== "") await session.client.query(prelude + sql + epilogue);
          return;
        }
        const statements = splitSqlStatements(body.sql);
        const dropped = await dropInvalidIndexesOf(session.client, statements);
        for (const index of dropped) {
          session.emit({
            kind: "log",
            revision: script.id,
            message: `dropped INVALID index ${index} left by an earlier failed attempt`,
          });
        }
        for (const statement of statements) {
          // PostgreSQL's cancel only reaches a running statement: one that came between two
          // (or before the first) is heard here. What ran before stays, as after any failure.
          session.signal.throwIfAborted();
          origin = {
            sql: statement.sql,
            line: body.line + statement.line - 1,
            singleStatement: true,
          };
          await session.client.query(statement.sql);
        }
        return;
      }
      case "function":
        await body.run(moduleContext(session, script));
        return;
      default:
        return assertNever(body, "migration body");
    }
  } catch (error) {
    throw migrationFailed(error, { revision: script.id, direction, path: script.path, origin });
  }
}

function moduleContext(session: RunSession, script: RevisionScript): MigrationContext {
  return {
    schema: session.schema,
    signal: session.signal,
    query: async (sql, params) => {
      const result = await session.client.query(sql, params === undefined ? [] : [...params]);
      return { rows: result.rows as Record<string, unknown>[], rowCount: result.rowCount ?? 0 };
    },
    log: (message) => {
      session.emit({ kind: "log", revision: script.id, message });
    },
  };
}
