/**
 * More of Alembic's tests/test_version_traversal.py, ported case by case (describe names are
 * Alembic's test classes): three-way merge points, twin merges, depends_on branches, cross
 * dependencies. Found matching by review (eleventh session); kept as coverage.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyHeadChange, headChangeForRevision } from "../../src/engine/plan/head-maintainer.js";
import { graph, plan } from "../support/graph-helpers.js";
import type { RevisionGraph } from "../../src/engine/graph/revision-graph.js";

function replay(
  g: RevisionGraph,
  start: string[],
  steps: [string, "up" | "down", string[]][],
): void {
  const heads = new Set(start);
  for (const [rev, dir, expected] of steps) {
    applyHeadChange(heads, headChangeForRevision(g, g.node(rev), dir, heads));
    assert.deepEqual([...heads].sort(), [...expected].sort(), `after ${dir}:${rev}`);
  }
}

describe("BranchFrom3WayMergepointTest", () => {
  const g = graph([
    ["a1", []],
    ["b1", "a1"],
    ["c1", "b1"],
    ["a2", []],
    ["b2", "a2"],
    ["c2", "b2"],
    ["a3", []],
    ["b3", "a3"],
    ["c3", "b3"],
    ["d1", ["c1", "c2", "c3"]],
    ["d2", "c2"],
    ["d3", "c3"],
  ]);
  it("one side upgrade", () => {
    const r = plan(g, "upgrade", "d1", ["d3", "d2", "b1"]);
    assert.deepEqual(r.steps, ["up:c1", "up:d1"]);
    assert.deepEqual(r.heads, ["d1", "d2", "d3"]);
  });
  it("one side downgrade", () => {
    const r = plan(g, "downgrade", "b1", ["d3", "d2", "d1"]);
    assert.deepEqual(r.steps, ["down:d1", "down:c1"]);
    assert.deepEqual(r.heads, ["b1", "d2", "d3"]);
  });
  it("two sides upgrade", () => {
    const r = plan(g, "upgrade", "d1", ["d3", "b2", "b1"]);
    assert.deepEqual([...r.steps].sort(), ["up:c1", "up:c2", "up:d1"]);
    assert.equal(r.steps.at(-1), "up:d1");
    assert.deepEqual(r.heads, ["d1", "d3"]);
    const r2 = plan(g, "upgrade", "d2", ["d3", "d1"]);
    assert.deepEqual(r2.steps, ["up:d2"]);
    assert.deepEqual(r2.heads, ["d1", "d2", "d3"]);
  });
});

describe("TwinMergeTest", () => {
  const g = graph([
    ["a", []],
    ["b1", "a"],
    ["b2", "a"],
    ["b3", "a"],
    ["c1", ["b1", "b2", "b3"]],
    ["c2", ["b1", "b2", "b3"]],
    ["d1", "c1"],
    ["d2", "c2"],
  ]);
  it("head maintainer", () => {
    replay(
      g,
      ["a"],
      [
        ["b3", "up", ["b3"]],
        ["b1", "up", ["b1", "b3"]],
        ["b2", "up", ["b1", "b2", "b3"]],
        ["c2", "up", ["c2"]],
        ["d2", "up", ["d2"]],
        ["c1", "up", ["c1", "d2"]],
        ["d1", "up", ["d1", "d2"]],
      ],
    );
  });
  it("plan heads", () => {
    const r = plan(g, "upgrade", "heads", ["a"]);
    assert.deepEqual(r.heads, ["d1", "d2"]);
    const d = plan(g, "downgrade", "a", r.heads);
    assert.deepEqual(d.heads, ["a"]);
    const d2 = plan(g, "downgrade", "c1", ["d1", "d2"]);
    assert.deepEqual(d2.heads, ["c1", "d2"]);
  });
});

describe("NotQuiteTwinMergeTest", () => {
  const g = graph([
    ["a", []],
    ["b1", "a"],
    ["b2", "a"],
    ["b3", "a"],
    ["c1", ["b1", "b2"]],
    ["c2", ["b2", "b3"]],
    ["d1", "c1"],
    ["d2", "c2"],
  ]);
  it("head maintainer", () => {
    replay(
      g,
      ["a"],
      [
        ["b2", "up", ["b2"]],
        ["b3", "up", ["b2", "b3"]],
        ["c2", "up", ["c2"]],
        ["d2", "up", ["d2"]],
        ["b1", "up", ["b1", "d2"]],
        ["c1", "up", ["c1", "d2"]],
        ["d1", "up", ["d1", "d2"]],
      ],
    );
  });
  it("plans", () => {
    const r = plan(g, "upgrade", "heads", ["a"]);
    assert.deepEqual(r.heads, ["d1", "d2"]);
    const d = plan(g, "downgrade", "a", r.heads);
    assert.deepEqual(d.heads, ["a"]);
  });
});

describe("DependsOnBranchTestTwo", () => {
  const g = graph([
    ["a1", []],
    ["a2", []],
    ["a3", []],
    ["amerge", ["a1", "a2", "a3"]],
    ["b1", []],
    ["b2", []],
    ["bmerge", ["b1", "b2"]],
    ["c1", []],
    ["c2", []],
    ["c3", []],
    ["cmerge", ["c1", "c2", "c3"]],
    ["d1", [], { dependsOn: ["a3", "b2", "c1"] }],
  ]);
  it("kaboom", () => {
    const r1 = plan(g, "downgrade", "b2", ["amerge", "bmerge", "cmerge", "d1"]);
    assert.deepEqual(r1.steps, ["down:bmerge"]);
    assert.deepEqual(r1.heads, ["amerge", "b1", "cmerge", "d1"]);
    const r2 = plan(g, "downgrade", "d1@base", ["amerge", "d1", "b1", "cmerge"]);
    assert.deepEqual(r2.steps, ["down:d1"]);
    assert.deepEqual(r2.heads, ["amerge", "b1", "b2", "cmerge"]);
    const r3 = plan(g, "downgrade", "base", ["amerge", "b1", "b2", "cmerge"]);
    assert.equal(r3.steps.length, 10);
    assert.deepEqual(r3.heads, []);
  });
});

describe("DependsOnBranchTestThree", () => {
  const g = graph([
    ["a1", []],
    ["a2", "a1"],
    ["b1", []],
    ["b2", "b1", { dependsOn: ["a2"] }],
    ["b3", "b2"],
    ["a3", "a2", { dependsOn: ["b1"] }],
  ]);
  it("crisscross", () => {
    const r = plan(g, "downgrade", "b1", ["a3", "b2"]);
    assert.deepEqual(r.steps, ["down:b2"]);
    assert.deepEqual(r.heads, ["a3"]);
  });
});

describe("DependsOnOwnDownrevTest", () => {
  const g = graph([
    ["a1", []],
    ["a2", "a1", { dependsOn: ["a1"] }],
  ]);
  it("traverse", () => {
    assert.deepEqual(plan(g, "upgrade", "a2", []).steps, ["up:a1", "up:a2"]);
    assert.deepEqual(plan(g, "upgrade", "a2", []).heads, ["a2"]);
    assert.deepEqual(plan(g, "downgrade", "a1", ["a2"]).steps, ["down:a2"]);
    assert.deepEqual(plan(g, "downgrade", "a1", ["a2"]).heads, ["a1"]);
  });
});

describe("DependsOnBranchTestFour", () => {
  const g = graph([
    ["a1", []],
    ["a2", "a1"],
    ["a3", "a2"],
    ["b1", []],
    ["b2", "b1", { dependsOn: ["a3"] }],
    ["b3", "b2"],
    ["b4", "b3", { dependsOn: ["a3"] }],
  ]);
  it("normalized", () => {
    const r = plan(g, "downgrade", "b3", ["b4"]);
    assert.deepEqual(r.steps, ["down:b4"]);
    assert.deepEqual(r.heads, ["b3"]);
  });
});

describe("DependsOnBranchTestFive", () => {
  const g = graph([
    ["a1", []],
    ["b1", [], { dependsOn: ["a1"] }],
    ["bmerge", ["a1", "b1"]],
  ]);
  it("downgrade to depends on", () => {
    let r = plan(g, "upgrade", "b1", ["a1"]);
    assert.deepEqual(r.steps, ["up:b1"]);
    assert.deepEqual(r.heads, ["b1"]);
    r = plan(g, "upgrade", "bmerge", ["b1"]);
    assert.deepEqual(r.steps, ["up:bmerge"]);
    assert.deepEqual(r.heads, ["bmerge"]);
    r = plan(g, "downgrade", "a1", ["bmerge"]);
    assert.deepEqual(r.steps, ["down:bmerge"]);
    assert.deepEqual(r.heads, ["b1"]);
    r = plan(g, "downgrade", "b1", ["bmerge"]);
    assert.deepEqual(r.steps, ["down:bmerge"]);
    assert.deepEqual(r.heads, ["b1"]);
  });
});

describe("DependsOnBranchLabelTest", () => {
  const g = graph([
    ["a1", [], { labels: ["lib1"] }],
    ["b1", "a1"],
    ["c1", "b1", { labels: ["c1lib"] }],
    ["a2", []],
    ["b2", "a2"],
    ["c2", "b2", { dependsOn: ["c1lib"] }],
    ["d1", "c1"],
    ["e1", "d1"],
    ["f1", "e1"],
  ]);
  it("upgrade path", () => {
    const r = plan(g, "upgrade", "c2", ["a2"]);
    assert.deepEqual(r.steps, ["up:a1", "up:b1", "up:c1", "up:b2", "up:c2"]);
    assert.deepEqual(r.heads, ["c2"]);
  });
});

describe("BranchedPathTestCrossDependencies", () => {
  const g = graph([
    ["a", []],
    ["b", "a"],
    ["c1", "b", { labels: ["c1branch"] }],
    ["d1", "c1"],
    ["c2", "b", { labels: ["c2branch"] }],
    ["d2", "c2", { dependsOn: ["c1"] }],
  ]);
  it("independent branch", () => {
    const r = plan(g, "downgrade", "c2branch@b", ["d1", "d2"]);
    assert.deepEqual(r.steps, ["down:d2", "down:c2"]);
    assert.deepEqual(r.heads, ["d1"]);
  });
  it("branch dependency", () => {
    const r = plan(g, "downgrade", "c1branch@b", ["d1", "d2"]);
    assert.deepEqual([...r.steps].sort(), ["down:c1", "down:d1", "down:d2"]);
    assert.ok(r.steps.indexOf("down:d1") < r.steps.indexOf("down:c1"));
    assert.ok(r.steps.indexOf("down:d2") < r.steps.indexOf("down:c1"));
    assert.deepEqual(r.heads, ["c2"]);
  });
});
