import { ErrorCode, FleetwayError } from "../errors.js";
import { revisionChecksum } from "./checksum.js";
import type { MigrationBody, RevisionScript } from "./revision-script.js";
import { splitSqlStatements } from "./split-sql-statements.js";

/**
 * Header fields a `.sql` revision may declare. `create_date` is written by `fleetway revision`
 * for humans (Alembic's "Create Date") and otherwise ignored.
 */
export const SQL_HEADER_FIELDS = [
  "revision",
  "down_revision",
  "message",
  "branch_labels",
  "depends_on",
  "transactional",
  "create_date",
] as const;

type HeaderField = (typeof SQL_HEADER_FIELDS)[number];

interface HeaderEntry {
  readonly value: string;
  readonly line: number;
}

type Header = Map<HeaderField, HeaderEntry>;

/** The lines after one `-- upgrade` / `-- downgrade` marker, up to the next marker. */
interface Section {
  readonly markerLine: number;
  readonly lines: string[];
}

interface Sections {
  readonly header: Header;
  readonly upgrade: Section;
  readonly downgrade: Section | null;
}

/**
 * `-- key: value`. The key must be lowercase so that free-text comments ("-- Note: ...") stay
 * allowed; `://` is excluded so that a comment holding a URL is not taken for a field.
 */
const HEADER_LINE = /^--\s*([a-z][a-z0-9_]*)\s*:(?!\/\/)(.*)$/;
const SECTION_MARKER = /^--\s*(upgrade|downgrade)$/i;

/**
 * Parses a `.sql` revision: a header of `-- key: value` comments, then an `-- upgrade` section
 * and an optional `-- downgrade` section (no downgrade section: the revision is irreversible).
 * A section may be empty (a merge revision has nothing to run).
 *
 * @param text the file's content
 * @param path the file's path, used in errors and kept on the result
 * @throws FleetwayError `SCRIPT_PARSE_ERROR` with data `{ path, line, reason }`
 */
export function parseSqlRevision(text: string, path: string): RevisionScript {
  const lines = (text.startsWith("\uFEFF") ? text.slice(1) : text).split(/\r\n|\r|\n/);
  const { header, upgrade, downgrade } = splitSections(lines, path);
  const revision = requireField(header, "revision", path);
  if (revision.value === "") throw parseError(path, revision.line, "empty 'revision'");
  const transactional = parseTransactional(header.get("transactional"), path);
  const upgradeBody = sectionBody(upgrade);
  const downgradeBody = downgrade === null ? null : sectionBody(downgrade);
  if (transactional) {
    refuseTransactionControl(upgradeBody, path);
    if (downgradeBody !== null) refuseTransactionControl(downgradeBody, path);
  }
  return {
    id: revision.value,
    downRevisions: parseList(requireField(header, "down_revision", path), "down_revision", path),
    message: header.get("message")?.value ?? "",
    branchLabels: parseOptionalList(header, "branch_labels", path),
    dependsOn: parseOptionalList(header, "depends_on", path),
    transactional,
    path,
    format: "sql",
    checksum: revisionChecksum(text),
    upgrade: upgradeBody,
    downgrade: downgradeBody,
  };
}

type SqlBody = Extract<MigrationBody, { kind: "sql" }>;

/**
 * Statements that end or open a transaction (savepoints are fine): ROLLBACK TO is a savepoint's.
 */
const TRANSACTION_CONTROL =
  /^(begin|start\s+transaction|commit|end|abort|rollback(?!\s+to\b)|prepare\s+transaction)\b/i;

/**
 * A transactional revision runs in the transaction Fleetway opens for it, with its bookkeeping,
 * and commits with it. A COMMIT (or BEGIN, ROLLBACK...) of its own would commit part of it, or
 * leave the version table to a transaction of its own: refused when the file is loaded.
 */
function refuseTransactionControl(body: SqlBody, path: string): void {
  for (const statement of splitSqlStatements(body.sql)) {
    const match = TRANSACTION_CONTROL.exec(statement.sql);
    if (match?.[1] === undefined) continue;
    throw parseError(
      path,
      body.line + statement.line - 1,
      `'${match[1].toUpperCase().replace(/\s+/g, " ")}' in a transactional revision: Fleetway runs ` +
        "each revision in a transaction of its own; mark it '-- transactional: false' to run its " +
        "statements one by one instead",
    );
  }
}

function splitSections(lines: readonly string[], path: string): Sections {
  const header: Header = new Map();
  let upgrade: Section | null = null;
  let downgrade: Section | null = null;
  for (const [index, raw] of lines.entries()) {
    const line = index + 1;
    const marker = SECTION_MARKER.exec(raw.trim())?.[1]?.toLowerCase();
    if (marker === "upgrade") {
      if (upgrade !== null) throw duplicateMarker(path, line, "upgrade", upgrade.markerLine);
      upgrade = { markerLine: line, lines: [] };
    } else if (marker === "downgrade") {
      if (upgrade === null) {
        throw parseError(path, line, "'-- downgrade' marker before the '-- upgrade' marker");
      }
      if (downgrade !== null) throw duplicateMarker(path, line, "downgrade", downgrade.markerLine);
      downgrade = { markerLine: line, lines: [] };
    } else {
      const section: Section | null = downgrade ?? upgrade;
      if (section === null) readHeaderLine(raw, line, header, path);
      else section.lines.push(raw);
    }
  }
  if (upgrade === null) throw parseError(path, 1, "no '-- upgrade' marker");
  return { header, upgrade, downgrade };
}

function readHeaderLine(raw: string, line: number, header: Header, path: string): void {
  const trimmed = raw.trim();
  if (trimmed === "") return;
  if (!trimmed.startsWith("--")) {
    throw parseError(
      path,
      line,
      "SQL before the '-- upgrade' marker (only '--' comments may precede it)",
    );
  }
  const match = HEADER_LINE.exec(trimmed);
  if (match === null) return; // a free-text comment
  const key = match[1] ?? "";
  if (!isHeaderField(key)) {
    throw parseError(
      path,
      line,
      `unknown header field '${key}' (known fields: ${SQL_HEADER_FIELDS.join(", ")})`,
    );
  }
  const previous = header.get(key);
  if (previous !== undefined) {
    throw parseError(
      path,
      line,
      `duplicate header field '${key}' (first at line ${previous.line})`,
    );
  }
  header.set(key, { value: (match[2] ?? "").trim(), line });
}

function isHeaderField(key: string): key is HeaderField {
  return (SQL_HEADER_FIELDS as readonly string[]).includes(key);
}

function requireField(header: Header, field: HeaderField, path: string): HeaderEntry {
  const entry = header.get(field);
  if (entry === undefined) throw parseError(path, 1, `missing header field '${field}'`);
  return entry;
}

/** A comma-separated list; empty or `none` (any case, as Alembic's `None`) is the empty list. */
function parseList(entry: HeaderEntry, field: HeaderField, path: string): string[] {
  if (entry.value === "" || entry.value.toLowerCase() === "none") return [];
  const items = entry.value.split(",").map((item) => item.trim());
  if (items.includes("")) throw parseError(path, entry.line, `empty item in '${field}'`);
  return items;
}

function parseOptionalList(header: Header, field: HeaderField, path: string): string[] {
  const entry = header.get(field);
  return entry === undefined ? [] : parseList(entry, field, path);
}

function parseTransactional(entry: HeaderEntry | undefined, path: string): boolean {
  if (entry === undefined) return true;
  const value = entry.value.toLowerCase();
  if (value === "true") return true;
  if (value === "false") return false;
  throw parseError(path, entry.line, `'transactional' must be true or false, not '${entry.value}'`);
}

/**
 * A section's SQL without its leading and trailing blank lines. `line` is the file line of the
 * SQL's first character, so that a PostgreSQL error position (an offset into `sql`) maps back
 * to a file line; for an empty section it is the line after the marker.
 */
function sectionBody(section: Section): SqlBody {
  const { lines } = section;
  let first = 0;
  while (first < lines.length && lines[first]?.trim() === "") first++;
  let end = lines.length;
  while (end > first && lines[end - 1]?.trim() === "") end--;
  return {
    kind: "sql",
    sql: lines.slice(first, end).join("\n"),
    line: section.markerLine + 1 + (first < end ? first : 0),
  };
}

function duplicateMarker(path: string, line: number, marker: string, first: number): FleetwayError {
  return parseError(path, line, `duplicate '-- ${marker}' marker (first at line ${first})`);
}

function parseError(path: string, line: number, reason: string): FleetwayError {
  return new FleetwayError(ErrorCode.SCRIPT_PARSE_ERROR, `${path}:${line}: ${reason}`, {
    path,
    line,
    reason,
  });
}
