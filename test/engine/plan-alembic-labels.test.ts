/**
 * Alembic's multiple-base, cross-dependency, branch-travelling and labelled-branch tests
 * (tests/test_version_traversal.py and tests/test_revision.py), ported case by case; describe
 * names are Alembic's test classes. Found matching by review (eleventh session); kept as coverage.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { graph, plan } from "../support/graph-helpers.js";

const down = (g: ReturnType<typeof graph>, heads: string[], target: string) =>
  plan(g, "downgrade", target, heads).steps.map((s) => s.slice(5));
const up = (g: ReturnType<typeof graph>, heads: string[], target: string) =>
  plan(g, "upgrade", target, heads)
    .steps.map((s) => s.slice(3))
    .reverse();

describe("MultipleBranchEffectiveHead", () => {
  const g = graph([
    ["y1", [], { labels: ["y"] }],
    ["x1", [], { labels: ["x"] }],
    ["y2", "y1", { dependsOn: ["x1"] }],
    ["x2", "x1"],
  ]);
  it("other downgrade", () => {
    assert.deepEqual(down(g, ["x2", "y2"], "x@-1"), ["x2"]);
  });
  it("use all current", () => {
    assert.deepEqual(down(g, ["x1", "y2"], "x@-1"), ["y2", "x1"]);
  });
  it("effective head", () => {
    assert.deepEqual(down(g, ["y2"], "x@-1"), ["y2", "x1"]);
  });
});

describe("MultipleBaseCrossDependencyTestOne", () => {
  const g = graph([
    ["base1", [], { labels: ["b_1"] }],
    ["a1a", "base1"],
    ["a1b", "base1"],
    ["b1a", "a1a"],
    ["b1b", "a1b", { dependsOn: ["a3"] }],
    ["base2", [], { labels: ["b_2"] }],
    ["a2", "base2"],
    ["b2", "a2"],
    ["c2", "b2", { dependsOn: ["a3"] }],
    ["d2", "c2"],
    ["base3", [], { labels: ["b_3"] }],
    ["a3", "base3"],
    ["b3", "a3"],
  ]);
  const all = ["b1a", "b1b", "d2", "b3"];
  it("heads", () => {
    assert.deepEqual([...g.heads], ["b1a", "b1b", "d2", "b3"]);
  });
  it("heads to base down", () => {
    assert.deepEqual(down(g, all, "base"), [
      "b1a",
      "a1a",
      "b1b",
      "a1b",
      "base1",
      "d2",
      "c2",
      "b2",
      "a2",
      "base2",
      "b3",
      "a3",
      "base3",
    ]);
  });
  it("heads to base up", () => {
    assert.deepEqual(up(g, [], "heads"), [
      "b1a",
      "a1a",
      "b1b",
      "a1b",
      "base1",
      "d2",
      "c2",
      "b2",
      "a2",
      "base2",
      "b3",
      "a3",
      "base3",
    ]);
  });
  it("need head2 up", () => {
    assert.deepEqual(up(g, [], "b_2@head"), ["d2", "c2", "b2", "a2", "base2", "a3", "base3"]);
  });
  it("need head2 down", () => {
    assert.deepEqual(down(g, ["d2", "a3"], "b_2@base"), ["d2", "c2", "b2", "a2", "base2"]);
  });
  it("need head3 up", () => {
    assert.deepEqual(up(g, [], "b_3@head"), ["b3", "a3", "base3"]);
  });
  it("need head1 up", () => {
    assert.deepEqual(up(g, [], "b1b@head"), ["b1b", "a1b", "base1", "a3", "base3"]);
  });
  it("need head1 down", () => {
    assert.deepEqual(down(g, ["b1b", "a3"], "b1b@base"), ["b1b", "a1b", "base1"]);
  });
  it("need base2 down", () => {
    assert.deepEqual(down(g, all, "b_2@base"), ["d2", "c2", "b2", "a2", "base2"]);
  });
  it("need base3 down", () => {
    assert.deepEqual(down(g, all, "b_3@base"), ["b1b", "d2", "c2", "b3", "a3", "base3"]);
  });
});

describe("MultipleBaseCrossDependencyTestTwo", () => {
  const g = graph([
    ["base1", [], { labels: ["b_1"] }],
    ["a1", "base1"],
    ["b1", "a1"],
    ["c1", "b1"],
    ["base2", [], { dependsOn: ["b_1"], labels: ["b_2"] }],
    ["a2", "base2"],
    ["b2", "a2"],
    ["c2", "b2"],
    ["d2", "c2"],
    ["base3", [], { labels: ["b_3"] }],
    ["a3", "base3"],
    ["b3", "a3"],
    ["c3", "b3", { dependsOn: ["b2"] }],
    ["d3", "c3"],
  ]);
  it("heads", () => {
    assert.deepEqual([...g.heads], ["c1", "d2", "d3"]);
  });
  it("heads to base", () => {
    assert.deepEqual(up(g, [], "heads"), [
      "c1",
      "b1",
      "a1",
      "d2",
      "c2",
      "d3",
      "c3",
      "b3",
      "a3",
      "base3",
      "b2",
      "a2",
      "base2",
      "base1",
    ]);
  });
  it("head2", () => {
    assert.deepEqual(up(g, [], "b_2@head"), ["d2", "c2", "b2", "a2", "base2", "base1"]);
  });
  it("head3", () => {
    assert.deepEqual(up(g, [], "b_3@head"), [
      "d3",
      "c3",
      "b3",
      "a3",
      "base3",
      "b2",
      "a2",
      "base2",
      "base1",
    ]);
  });
  it("head1", () => {
    assert.deepEqual(up(g, [], "b_1@head"), ["c1", "b1", "a1", "base1"]);
  });
});

describe("MultipleBaseCrossDependencyTestThree", () => {
  const g = graph([
    ["base1", []],
    ["a1", "base1"],
    ["b1", "a1"],
    ["c2", [], { dependsOn: ["a1"] }],
    ["c3", "c2"],
  ]);
  it("traverse", () => {
    assert.deepEqual(up(g, [], "heads"), ["b1", "c3", "c2", "a1", "base1"]);
  });
  it("down", () => {
    assert.deepEqual(down(g, ["b1", "c3"], "base"), ["b1", "c3", "c2", "a1", "base1"]);
  });
});

describe("MultipleBaseTest", () => {
  const g = graph([
    ["base1", []],
    ["base2", []],
    ["base3", []],
    ["a1a", "base1"],
    ["a1b", "base1"],
    ["a2", "base2"],
    ["a3", "base3"],
    ["b1a", "a1a"],
    ["b1b", "a1b"],
    ["b2", "a2"],
    ["b3", "a3"],
    ["c2", "b2"],
    ["d2", "c2"],
    ["mergeb3d2", ["b3", "d2"]],
  ]);
  const full = [
    "b1a",
    "a1a",
    "b1b",
    "a1b",
    "base1",
    "mergeb3d2",
    "b3",
    "a3",
    "base3",
    "d2",
    "c2",
    "b2",
    "a2",
    "base2",
  ];
  it("heads to base", () => {
    assert.deepEqual(up(g, [], "heads"), full);
  });
  it("heads to base down", () => {
    assert.deepEqual(down(g, ["b1a", "b1b", "mergeb3d2"], "base"), full);
  });
  it("implicit base exclusive", () => {
    assert.deepEqual(up(g, ["c2"], "heads"), [
      "b1a",
      "a1a",
      "b1b",
      "a1b",
      "base1",
      "mergeb3d2",
      "b3",
      "a3",
      "base3",
      "d2",
    ]);
  });
  it("specific path two", () => {
    assert.deepEqual(up(g, ["base3"], "b3"), ["b3", "a3"]);
  });
});

describe("BranchTravellingTest", () => {
  const g = graph([
    ["a1", []],
    ["a2", "a1"],
    ["a3", "a2"],
    ["b1", "a3"],
    ["b2", "a3"],
    ["cb1", "b1"],
    ["cb2", "b2"],
    ["db1", "cb1"],
    ["db2", "cb2"],
    ["e1b1", "db1"],
    ["fe1b1", "e1b1"],
    ["e2b1", "db1"],
    ["e2b2", "db2"],
    ["merge", ["e2b1", "e2b2"]],
  ]);
  it("one branch both to merge", () => {
    assert.deepEqual(up(g, ["db1"], "merge"), ["merge", "e2b1", "e2b2", "db2", "cb2", "b2"]);
  });
  it("two branches to root down", () => {
    assert.deepEqual(down(g, ["merge"], "a1"), [
      "merge",
      "e2b1",
      "db1",
      "cb1",
      "b1",
      "e2b2",
      "db2",
      "cb2",
      "b2",
      "a3",
      "a2",
    ]);
  });
  it("three to root down", () => {
    assert.deepEqual(down(g, ["merge", "fe1b1"], "base"), [
      "fe1b1",
      "e1b1",
      "merge",
      "e2b1",
      "db1",
      "cb1",
      "b1",
      "e2b2",
      "db2",
      "cb2",
      "b2",
      "a3",
      "a2",
      "a1",
    ]);
  });
  it("two branches end in branch (down)", () => {
    assert.deepEqual(down(g, ["merge"], "b1"), ["merge", "e2b1", "db1", "cb1"]);
  });
});

describe("LongShortBranchTest", () => {
  const g = graph([
    ["a", []],
    ["b1", "a"],
    ["b2", "a"],
    ["c1", "b1"],
    ["d11", "c1"],
    ["d12", "c1"],
  ]);
  it("full", () => {
    assert.deepEqual(up(g, [], "heads"), ["b2", "d11", "d12", "c1", "b1", "a"]);
  });
  it("full down", () => {
    assert.deepEqual(down(g, ["b2", "d11", "d12"], "base"), ["b2", "d11", "d12", "c1", "b1", "a"]);
  });
});

describe("DiamondTest", () => {
  const g = graph([
    ["a", []],
    ["b1", "a"],
    ["b2", "a"],
    ["c", ["b1", "b2"]],
    ["d", "c"],
  ]);
  it("simple", () => {
    assert.deepEqual(down(g, ["d"], "base"), ["d", "c", "b1", "b2", "a"]);
  });
});

describe("LabeledBranchTest graph API", () => {
  const g = graph([
    ["a", [], { labels: ["abranch"] }],
    ["b", "a"],
    ["somelongername", "b"],
    ["c", "somelongername"],
    ["d", []],
    ["e", "d", { labels: ["ebranch"] }],
    ["someothername", "e"],
    ["f", "someothername"],
  ]);
  it("partial", () => {
    assert.equal(g.getRevision("ebranch@some")?.id, "someothername");
    assert.equal(g.getRevision("abranch@some")?.id, "somelongername");
  });
  it("branch at", () => {
    assert.equal(g.getRevision("abranch@heads")?.id, "c");
    assert.equal(g.getRevision("abranch@head")?.id, "c");
    assert.equal(g.getRevision("abranch@base"), null);
    assert.equal(g.getRevision("ebranch@d")?.id, "d");
    assert.equal(g.getRevision("ebranch@ebranch")?.id, "e");
    assert.equal(g.getRevision("abranch")?.id, "a");
    assert.equal(g.getRevision("e@d")?.id, "d");
    assert.equal(g.getRevision("someoth@d")?.id, "d");
    assert.equal(g.getRevision("e")?.id, "e");
  });
  it("errors", () => {
    assert.throws(
      () => g.getRevision("ebranch@b"),
      /Revision b is not a member of branch 'ebranch'/,
    );
    assert.throws(
      () => g.getRevision("abranch@d"),
      /Revision d is not a member of branch 'abranch'/,
    );
    assert.throws(() => g.getRevision("x@d"), /No such branch: 'x'/);
    assert.throws(() => g.getRevision("abranch@qpr"), /four characters/);
  });
  it("plans", () => {
    assert.deepEqual(down(g, ["c", "f"], "ebranch@base"), ["f", "someothername", "e", "d"]);
    assert.deepEqual(down(g, ["c", "f"], "abranch@base"), ["c", "somelongername", "b", "a"]);
    assert.deepEqual(up(g, [], "ebranch@head"), ["f", "someothername", "e", "d"]);
    assert.deepEqual(down(g, ["c", "f"], "ebranch@d"), ["f", "someothername", "e"]);
    assert.deepEqual(down(g, ["c", "f"], "e@base"), ["f", "someothername", "e", "d"]);
    assert.deepEqual(down(g, ["c", "f"], "c@base"), ["c", "somelongername", "b", "a"]);
    assert.deepEqual(down(g, ["c", "f"], "ebranch@-2"), ["f", "someothername"]);
    assert.deepEqual(up(g, [], "ebranch@+2"), ["e", "d"]);
  });
});

describe("labelled across merge", () => {
  const g = graph([
    ["a", []],
    ["b", "a"],
    ["c1", "b", { labels: ["c1branch"] }],
    ["c2", "b"],
    ["d", ["c1", "c2"]],
  ]);
  it("filter", () => {
    const ns = ["c1", "c2", "d"].map((x) => g.node(x));
    assert.deepEqual(
      g.filterForLineage(ns, "c1branch@head").map((n) => n.id),
      ["c1", "c2", "d"],
    );
  });
});
