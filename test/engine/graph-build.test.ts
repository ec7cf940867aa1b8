/** Building a revision graph: what Alembic accepts, and the typed errors for what it refuses. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { graph } from "../support/graph-helpers.js";

const rejects = (build: () => unknown, code: string, message?: RegExp): void => {
  assert.throws(build, (error: { code?: string; message: string }) => {
    assert.equal(error.code, code, error.message);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
};

describe("revision graph", () => {
  it("heads, bases, branch points and merges of a diamond with two roots", () => {
    const g = graph([
      ["r1", []],
      ["r2", []],
      ["a", "r1"],
      ["b1", "a"],
      ["b2", "a"],
      ["m", ["b1", "b2", "r2"]],
    ]);
    assert.deepEqual([...g.heads], ["m"]);
    assert.deepEqual([...g.bases].sort(), ["r1", "r2"]);
    assert.deepEqual(g.appliedRevisions(["b1"]).sort(), ["a", "b1", "r1"]);
    assert.deepEqual(g.appliedRevisions(["m"]).sort(), ["a", "b1", "b2", "m", "r1", "r2"]);
  });

  it("a dependency makes its target an ancestor without a version-table row", () => {
    const g = graph([
      ["a1", []],
      ["a2", []],
      ["b2", "a2", { dependsOn: ["a1"] }],
    ]);
    assert.deepEqual([...g.heads].sort(), ["a1", "b2"]);
    assert.deepEqual([...g.realHeads].sort(), ["b2"]);
    assert.deepEqual(g.appliedRevisions(["b2"]).sort(), ["a1", "a2", "b2"]);
  });

  it("depends_on may name a branch label", () => {
    const g = graph([
      ["l1", [], { labels: ["lib"] }],
      ["app1", [], { dependsOn: ["lib"] }],
    ]);
    assert.ok(g.appliedRevisions(["app1"]).includes("l1"));
  });

  it("resolves unique prefixes and refuses ambiguous ones", () => {
    const g = graph([
      ["abcd1111", []],
      ["abcd2222", "abcd1111"],
      ["ef01ab", "abcd2222"],
    ]);
    assert.equal(g.revisionForIdent("ef01")?.id, "ef01ab");
    rejects(
      () => g.revisionForIdent("abcd"),
      "AMBIGUOUS_REVISION",
      /Multiple revisions start with 'abcd'/,
    );
    rejects(
      () => g.revisionForIdent("9999"),
      "UNKNOWN_REVISION",
      /Can't locate revision identified by '9999'/,
    );
  });

  it("refuses duplicate ids", () => {
    rejects(
      () =>
        graph([
          ["a", []],
          ["a", []],
        ]),
      "DUPLICATE_REVISION",
    );
  });

  it("refuses a missing down revision", () => {
    rejects(() => graph([["b", "nope"]]), "MISSING_DOWN_REVISION", /nope/);
  });

  it("refuses a dependency on nothing", () => {
    assert.throws(() => graph([["b", [], { dependsOn: ["ghost"] }]]));
  });

  it("refuses cycles", () => {
    rejects(
      () =>
        graph([
          ["a", "c"],
          ["b", "a"],
          ["c", "b"],
        ]),
      "REVISION_CYCLE",
    );
    rejects(() => graph([["a", "a"]]), "REVISION_CYCLE");
  });

  for (const bad of [
    "a@b",
    "a-b",
    "a+b",
    "a:b",
    "has space",
    "head",
    "heads",
    "base",
    "x".repeat(33),
  ]) {
    it(`refuses the revision id ${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 5)}…(${bad.length})` : bad)}`, () => {
      rejects(() => graph([[bad, []]]), "INVALID_REVISION_ID");
    });
  }

  it("refuses a branch label used twice", () => {
    rejects(
      () =>
        graph([
          ["a", [], { labels: ["x"] }],
          ["b", [], { labels: ["x"] }],
        ]),
      "DUPLICATE_BRANCH_LABEL",
    );
  });
});
