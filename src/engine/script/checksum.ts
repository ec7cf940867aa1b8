import { createHash } from "node:crypto";

/**
 * The text a revision checksum is computed over: a leading byte-order mark removed, CRLF and CR
 * line endings turned into LF, trailing whitespace stripped from every line and trailing blank
 * lines dropped. These are the edits editors and Git make on their own (autocrlf, "trim trailing
 * whitespace on save"); they must not flag an applied revision as modified. Everything else,
 * comments included, counts: Flyway does the same, and a comment edit is still an edit of an
 * applied file.
 */
export function normalizeRevisionContent(content: string): string {
  const withoutBom = content.startsWith("\uFEFF") ? content.slice(1) : content;
  const lines = withoutBom.split(/\r\n|\r|\n/).map((line) => line.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  return lines.join("\n");
}

/** sha256 (lowercase hex) of a revision file's {@link normalizeRevisionContent normalized} content. */
export function revisionChecksum(content: string): string {
  return createHash("sha256").update(normalizeRevisionContent(content), "utf8").digest("hex");
}
