import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { normalizeRevisionContent, revisionChecksum } from "../../src/engine/script/checksum.js";

const BASE = "-- revision: r\n-- down_revision: p\n-- upgrade\nSELECT 1;\n";

describe("revisionChecksum", () => {
  it("is the sha256 hex of the normalized content", () => {
    const expected = createHash("sha256").update(BASE.trimEnd(), "utf8").digest("hex");
    assert.equal(revisionChecksum(BASE), expected);
    assert.match(revisionChecksum(""), /^[0-9a-f]{64}$/);
  });

  it("ignores line endings, trailing whitespace, trailing blank lines and a BOM", () => {
    const same = [
      BASE.replaceAll("\n", "\r\n"),
      BASE.replaceAll("\n", "\r"),
      BASE.replaceAll("\n", "  \t\n"),
      `${BASE}\n\n   \n\t\n`,
      BASE.trimEnd(),
      `\uFEFF${BASE}`,
    ];
    for (const variant of same) {
      assert.equal(revisionChecksum(variant), revisionChecksum(BASE), JSON.stringify(variant));
    }
  });

  it("changes with SQL, comments, indentation and inner blank lines", () => {
    const different = [
      BASE.replace("SELECT 1", "SELECT 2"),
      BASE.replace("-- upgrade", "-- upgrade\n-- a comment"),
      BASE.replace("SELECT 1", "  SELECT 1"),
      BASE.replace("-- upgrade\n", "-- upgrade\n\n"),
      `\n${BASE}`,
    ];
    for (const variant of different) {
      assert.notEqual(revisionChecksum(variant), revisionChecksum(BASE), JSON.stringify(variant));
    }
  });

  it("normalizes to LF lines without trailing whitespace or blank lines", () => {
    assert.equal(normalizeRevisionContent("\uFEFFa \r\nb\t\rc\n\n \n"), "a\nb\nc");
    assert.equal(normalizeRevisionContent("\n\n"), "");
  });
});
