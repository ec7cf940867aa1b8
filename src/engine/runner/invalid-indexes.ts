import type pg from "pg";
import type { SqlStatement } from "../script/split-sql-statements.js";
import { quoteIdent } from "./sql-identifiers.js";

const CREATE_INDEX_CONCURRENTLY =
  /^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?((?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*))?)/i;

/** The index names (schema-qualified when written so) that CREATE INDEX CONCURRENTLY statements create. */
export function concurrentlyCreatedIndexes(
  statements: readonly SqlStatement[],
): { schema: string | null; name: string }[] {
  const found: { schema: string | null; name: string }[] = [];
  for (const { sql } of statements) {
    const match = CREATE_INDEX_CONCURRENTLY.exec(sql);
    if (match?.[1] === undefined) continue;
    const parts = splitQualified(match[1]);
    const name = parts.at(-1);
    if (name === undefined) continue;
    found.push({ schema: parts.length > 1 ? (parts[0] ?? null) : null, name });
  }
  return found;
}

/**
 * A CREATE INDEX CONCURRENTLY that fails (or is cancelled) leaves its index behind, marked
 * INVALID; running the statement again fails with "already exists" (or, with IF NOT EXISTS,
 * silently keeps the broken index). Before a non-transactional revision runs, drop the INVALID
 * indexes its own statements create, and only those: an invalid index some other revision or a
 * person created is none of this revision's business.
 *
 * @returns the dropped indexes, for the job's events
 */
export async function dropInvalidIndexesOf(
  client: pg.ClientBase,
  statements: readonly SqlStatement[],
  defaultSchema: string,
): Promise<string[]> {
  const dropped: string[] = [];
  for (const index of concurrentlyCreatedIndexes(statements)) {
    const schema = index.schema ?? defaultSchema;
    const { rows } = await client.query<{ invalid: boolean }>(
      `SELECT NOT i.indisvalid AS invalid
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = $2`,
      [schema, index.name],
    );
    if (rows[0]?.invalid !== true) continue;
    const qualified = `${quoteIdent(schema)}.${quoteIdent(index.name)}`;
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${qualified}`);
    dropped.push(`${schema}.${index.name}`);
  }
  return dropped;
}

/** `a.b`, `"A"."b c"` → identifier parts, unquoted; unquoted names fold to lower case. */
function splitQualified(text: string): string[] {
  const parts: string[] = [];
  const part = /\s*(?:"((?:[^"]|"")+)"|([A-Za-z_][\w$]*))\s*(?:\.|$)/gy;
  let match: RegExpExecArray | null;
  while ((match = part.exec(text)) !== null && match[0] !== "") {
    parts.push(
      match[1] !== undefined ? match[1].replace(/""/g, '"') : (match[2] ?? "").toLowerCase(),
    );
  }
  return parts;
}
