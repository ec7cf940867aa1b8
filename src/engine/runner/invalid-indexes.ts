import type pg from "pg";
import type { SqlStatement } from "../script/split-sql-statements.js";
import { quoteIdent } from "./sql-identifiers.js";

const IDENTIFIER = String.raw`(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)`;
const QUALIFIED = String.raw`${IDENTIFIER}(?:\s*\.\s*${IDENTIFIER})*`;
/** A named CREATE INDEX CONCURRENTLY: the index name, then the table after ON [ONLY]. */
const CREATE_INDEX_CONCURRENTLY = new RegExp(
  String.raw`^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(${IDENTIFIER})\s+ON\s+(?:ONLY\s+)?(${QUALIFIED})`,
  "i",
);

/**
 * The indexes that named CREATE INDEX CONCURRENTLY statements create: the name, and the table as
 * written (PostgreSQL puts the index in its table's schema; the name itself cannot be qualified).
 * An unnamed one gets a fresh name on every attempt, so it never collides with its leftover.
 */
export function concurrentlyCreatedIndexes(
  statements: readonly SqlStatement[],
): { name: string; table: string }[] {
  const found: { name: string; table: string }[] = [];
  for (const { sql } of statements) {
    const match = CREATE_INDEX_CONCURRENTLY.exec(sql);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const [name] = splitQualified(match[1]);
    if (name === undefined || (name === "on" && !match[1].startsWith('"'))) continue;
    found.push({ name, table: match[2] });
  }
  return found;
}

/**
 * A CREATE INDEX CONCURRENTLY that fails (or is cancelled) leaves its index behind, marked
 * INVALID; running the statement again fails with "already exists" (or, with IF NOT EXISTS,
 * silently keeps the broken index). Before a non-transactional revision runs, drop the INVALID
 * indexes its own statements create, and only those: an invalid index some other revision or a
 * person created is none of this revision's business. The table is resolved as the statement
 * will resolve it (to_regclass, with the session's search path), wherever its schema is.
 *
 * @returns the dropped indexes, for the job's events
 */
export async function dropInvalidIndexesOf(
  client: pg.ClientBase,
  statements: readonly SqlStatement[],
): Promise<string[]> {
  const dropped: string[] = [];
  for (const index of concurrentlyCreatedIndexes(statements)) {
    const { rows } = await client.query<{ schema: string }>(
      `SELECT n.nspname AS schema
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE i.indrelid = to_regclass($1) AND c.relname = $2 AND NOT i.indisvalid`,
      [index.table, index.name],
    );
    const schema = rows[0]?.schema;
    if (schema === undefined) continue;
    await client.query(
      `DROP INDEX CONCURRENTLY IF EXISTS ${quoteIdent(schema)}.${quoteIdent(index.name)}`,
    );
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
