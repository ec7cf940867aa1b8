/** One top-level statement of a SQL script. */
export interface SqlStatement {
  /** The statement's text, from its first token up to (not including) its `;`. */
  readonly sql: string;
  /** Offset of `sql` in the input, in UTF-16 code units. */
  readonly offset: number;
  /** 1-based line of `offset` in the input. */
  readonly line: number;
}

/** Per-statement lexer state. */
interface StatementState {
  /** Offset of the first token, or -1 while only whitespace and comments were seen. */
  start: number;
  parenDepth: number;
  /** Depth of BEGIN ... END in a `CREATE FUNCTION ... BEGIN ATOMIC` body. */
  beginDepth: number;
  /** The first four words, lowercased, or "" when not one psql's heuristic looks at. */
  readonly words: string[];
}

const WORD = /[A-Za-z_\u0080-\uFFFF][A-Za-z0-9_$\u0080-\uFFFF]*/y;
const NUMBER = /[0-9][A-Za-z0-9_.]*/y;
const DOLLAR_TAG = /\$(?:[A-Za-z_\u0080-\uFFFF][A-Za-z0-9_\u0080-\uFFFF]*)?\$/y;
const TRACKED_WORDS = new Set(["create", "or", "replace", "function", "procedure"]);

/**
 * Splits a PostgreSQL script into its top-level statements, the way psql does. A `;` ends a
 * statement unless it is inside a '...' string (with '' escapes), an E'...' string (backslash
 * escapes), a "quoted identifier", a $$...$$ or $tag$...$tag$ dollar quote, a -- or nested
 * /* *\/ comment, parentheses, or the BEGIN ATOMIC ... END body of a CREATE FUNCTION/PROCEDURE
 * (psql's heuristic). Statements that are empty or only comments are dropped. Assumes
 * `standard_conforming_strings = on` (the default since PostgreSQL 9.1): a backslash escapes
 * nothing in a plain '...' string.
 *
 * The runner needs it for non-transactional revisions: a multi-statement query string runs in
 * one implicit transaction, which statements like CREATE INDEX CONCURRENTLY refuse.
 */
export function splitSqlStatements(sql: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  const lines = lineCounter(sql);
  let state = newState();
  let i = 0;
  while (i < sql.length) {
    const c = sql.charAt(i);
    const afterComment = skipComment(sql, i);
    if (afterComment !== i) {
      i = afterComment;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === ";" && state.parenDepth === 0 && state.beginDepth === 0) {
      if (state.start >= 0) statements.push(toStatement(sql, state.start, i, lines));
      state = newState();
      i++;
    } else {
      if (state.start < 0) state.start = i;
      i = skipToken(sql, i, state);
    }
  }
  if (state.start >= 0) statements.push(toStatement(sql, state.start, sql.length, lines));
  return statements;
}

function newState(): StatementState {
  return { start: -1, parenDepth: 0, beginDepth: 0, words: [] };
}

function toStatement(
  sql: string,
  start: number,
  end: number,
  lineAt: (offset: number) => number,
): SqlStatement {
  return { sql: sql.slice(start, end).trimEnd(), offset: start, line: lineAt(start) };
}

/** Line numbers for increasing offsets, counted incrementally (linear over the whole script). */
function lineCounter(text: string): (offset: number) => number {
  let position = 0;
  let line = 1;
  return (offset) => {
    for (; position < offset; position++) if (text.charCodeAt(position) === 10) line++;
    return line;
  };
}

/** The offset after the comment starting at `i`, or `i` when none starts there. */
function skipComment(sql: string, i: number): number {
  if (sql.startsWith("--", i)) {
    const newline = sql.indexOf("\n", i);
    return newline < 0 ? sql.length : newline;
  }
  if (!sql.startsWith("/*", i)) return i;
  // PostgreSQL block comments nest, unlike the SQL standard's and C's.
  let depth = 1;
  let j = i + 2;
  while (j < sql.length && depth > 0) {
    if (sql.startsWith("/*", j)) {
      depth++;
      j += 2;
    } else if (sql.startsWith("*/", j)) {
      depth--;
      j += 2;
    } else {
      j++;
    }
  }
  return j;
}

/** Skips one token that is not whitespace, a comment or a statement-ending `;`. */
function skipToken(sql: string, i: number, state: StatementState): number {
  const c = sql.charAt(i);
  switch (c) {
    case "'":
      return skipQuoted(sql, i, "'", false);
    case '"':
      return skipQuoted(sql, i, '"', false);
    case "$":
      return skipDollarQuote(sql, i);
    case "(":
      state.parenDepth++;
      return i + 1;
    case ")":
      state.parenDepth = Math.max(0, state.parenDepth - 1);
      return i + 1;
  }
  const number = matchAt(NUMBER, sql, i);
  if (number !== null) return i + number.length;
  const word = matchAt(WORD, sql, i);
  if (word === null) return i + 1; // an operator or punctuation character
  const end = i + word.length;
  // E'...' (any case) is an escape string; in a longer word, E is just a letter.
  if ((word === "E" || word === "e") && sql.charAt(end) === "'") {
    return skipQuoted(sql, end, "'", true);
  }
  noteWord(state, word);
  return end;
}

/** A quoted string or identifier: a doubled quote is an escaped quote. Unterminated: to the end. */
function skipQuoted(sql: string, i: number, quote: string, backslashEscapes: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    const c = sql.charAt(j);
    if (backslashEscapes && c === "\\") {
      j += 2;
    } else if (c !== quote) {
      j++;
    } else if (sql.charAt(j + 1) === quote) {
      j += 2;
    } else {
      return j + 1;
    }
  }
  return sql.length;
}

/** `$tag$ ... $tag$` (tag optional). A `$` that opens no tag (a `$1` parameter) is one char. */
function skipDollarQuote(sql: string, i: number): number {
  const tag = matchAt(DOLLAR_TAG, sql, i);
  if (tag === null) return i + 1;
  const close = sql.indexOf(tag, i + tag.length);
  return close < 0 ? sql.length : close + tag.length;
}

/**
 * psql's heuristic for SQL-standard function bodies: in a statement that starts with
 * CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN ... END (with CASE ... END inside) outside
 * parentheses encloses semicolons that do not end the statement.
 */
function noteWord(state: StatementState, word: string): void {
  const lower = word.toLowerCase();
  if (state.words.length < 4) state.words.push(TRACKED_WORDS.has(lower) ? lower : "");
  if (state.parenDepth > 0 || !createsRoutine(state.words)) return;
  if (lower === "begin") state.beginDepth++;
  else if (lower === "case" && state.beginDepth > 0) state.beginDepth++;
  else if (lower === "end" && state.beginDepth > 0) state.beginDepth--;
}

function createsRoutine(words: readonly string[]): boolean {
  const routine = (word: string | undefined) => word === "function" || word === "procedure";
  return (
    words[0] === "create" &&
    (routine(words[1]) || (words[1] === "or" && words[2] === "replace" && routine(words[3])))
  );
}

/**
 * The match of a sticky pattern at `index`, or null. Setting `lastIndex` on the shared pattern
 * is safe: it is read synchronously by the very next `exec`.
 */
function matchAt(pattern: RegExp, text: string, index: number): string | null {
  pattern.lastIndex = index;
  return pattern.exec(text)?.[0] ?? null;
}
