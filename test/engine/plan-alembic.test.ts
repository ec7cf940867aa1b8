/**
 * Planner cases ported from Alembic's tests/test_version_traversal.py: the steps each target
 * produces (in Alembic's order where its tests pin one) and the heads its HeadMaintainer leaves.
 * Every plan also passes the partial-order invariants of graph-helpers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { graph, plan } from "../support/graph-helpers.js";

const throwsCode = (fn: () => unknown, code: string, message?: RegExp): void => {
  assert.throws(fn, (error: { code?: string; message: string }) => {
    assert.equal(error.code, code, error.message);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
};

describe("RevisionPathTest: a linear history", () => {
  const [a, b, c, d, e] = [
    "e6239818bb3a",
    "548bbb905360",
    "b7ea43dc85e4",
    "1bbe33445780",
    "3975fb1a0125",
  ];
  const g = graph([
    [a, []],
    [b, a],
    [c, b],
    [d, c],
    [e, d],
  ]);

  it("downgrade to base with no version; to an existing revision or head does nothing", () => {
    assert.deepEqual(plan(g, "downgrade", "base", []).steps, []);
    assert.deepEqual(plan(g, "downgrade", a, [a]), {
      ...plan(g, "downgrade", a, [a]),
      steps: [],
      heads: [a],
    });
    assert.deepEqual(plan(g, "downgrade", e, [e]).heads, [e]);
  });

  it("upgrade path", () => {
    assert.deepEqual(plan(g, "upgrade", e, [c]).steps, [`up:${d}`, `up:${e}`]);
    assert.deepEqual(plan(g, "upgrade", c, []).steps, [`up:${a}`, `up:${b}`, `up:${c}`]);
    assert.deepEqual(plan(g, "upgrade", c, []).heads, [c]);
  });

  it("relative upgrade path", () => {
    assert.deepEqual(plan(g, "upgrade", "+2", [a]).steps, [`up:${b}`, `up:${c}`]);
    assert.deepEqual(plan(g, "upgrade", "+1", [a]).heads, [b]);
    assert.deepEqual(plan(g, "upgrade", "+3", [b]).heads, [e]);
    assert.deepEqual(plan(g, "upgrade", `${b}+2`, [a]).steps, [`up:${b}`, `up:${c}`, `up:${d}`]);
    assert.deepEqual(plan(g, "upgrade", `${d}-2`, [a]).steps, [`up:${b}`]);
  });

  it("invalid relative upgrade path", () => {
    throwsCode(
      () => plan(g, "upgrade", "-2", [b]),
      "RELATIVE_OUT_OF_RANGE",
      /Relative revision -2 didn't produce 2 migrations/,
    );
    throwsCode(
      () => plan(g, "upgrade", "+5", [b]),
      "RELATIVE_OUT_OF_RANGE",
      /Relative revision \+5 didn't produce 5 migrations/,
    );
  });

  it("downgrade path", () => {
    assert.deepEqual(plan(g, "downgrade", c, [e]).steps, [`down:${e}`, `down:${d}`]);
    assert.deepEqual(plan(g, "downgrade", "base", [c]), {
      ...plan(g, "downgrade", "base", [c]),
      steps: [`down:${c}`, `down:${b}`, `down:${a}`],
      heads: [],
    });
  });

  it("relative downgrade path", () => {
    assert.deepEqual(plan(g, "downgrade", "-1", [c]).heads, [b]);
    assert.deepEqual(plan(g, "downgrade", "-3", [e]).steps, [
      `down:${e}`,
      `down:${d}`,
      `down:${c}`,
    ]);
    assert.deepEqual(plan(g, "downgrade", `${a}+2`, [d]).steps, [`down:${d}`]);
    assert.deepEqual(plan(g, "downgrade", `${c}-2`, [d]).heads, [a]);
  });

  it("invalid relative downgrade path", () => {
    throwsCode(
      () => plan(g, "downgrade", "-5", [b]),
      "RELATIVE_OUT_OF_RANGE",
      /Relative revision -5 didn't produce 5 migrations/,
    );
    throwsCode(
      () => plan(g, "downgrade", "+2", [b]),
      "RELATIVE_OUT_OF_RANGE",
      /Relative revision \+2 didn't produce 2 migrations/,
    );
  });

  it("a destination above the current heads is not a valid downgrade target", () => {
    throwsCode(
      () => plan(g, "downgrade", b.slice(0, 3), []),
      "NOT_A_VALID_TARGET",
      /Destination 548 is not a valid downgrade target from current head\(s\)/,
    );
    throwsCode(
      () => plan(g, "downgrade", c.slice(0, 4), [b]),
      "NOT_A_VALID_TARGET",
      /Destination b7ea is not a valid downgrade target from current head\(s\)/,
    );
  });

  it("stamp to base deletes the row", () => {
    const { plan: p } = plan(g, "stamp", "base", [d]);
    assert.equal(p.steps.length, 1);
    assert.deepEqual(p.steps[0]?.headChange, { kind: "delete", version: d });
  });
});

describe("BranchedPathTest: a -> b -> c1 -> d1 and b -> c2 -> d2", () => {
  const g = graph([
    ["a", []],
    ["b", "a"],
    ["c1", "b", { labels: ["c1branch"] }],
    ["d1", "c1"],
    ["c2", "b", { labels: ["c2branch"] }],
    ["d2", "c2"],
  ]);

  // Alembic deletes every head but the last in the order it read the rows, and updates the last.
  // The version table is a set: Fleetway sorts the heads first, so the choice is deterministic
  // (here DELETE c2, UPDATE d1 where Alembic, given [d1, c2], deletes d1); the table ends the same.
  it("stamp down across branches to the branch point: DELETE one row, UPDATE the other to b", () => {
    const { plan: p, heads } = plan(g, "stamp", "b", ["d1", "c2"]);
    assert.equal(p.steps.length, 1);
    assert.deepEqual(p.steps[0]?.headChange, {
      kind: "merge",
      delete: ["c2"],
      from: "d1",
      to: "b",
    });
    assert.deepEqual(heads, ["b"]);
  });

  it("stamp to a labelled base or head touches only that branch", () => {
    const base = plan(g, "stamp", "c1branch@base", ["d1", "c2"]).plan;
    assert.deepEqual(
      base.steps.map((s) => s.headChange),
      [{ kind: "delete", version: "d1" }],
    );
    const head = plan(g, "stamp", "c2branch@head", ["d1", "c2"]).plan;
    assert.deepEqual(
      head.steps.map((s) => s.headChange),
      [{ kind: "update", from: "c2", to: "d2" }],
    );
  });

  it("upgrade one branch; upgrade to several heads", () => {
    assert.deepEqual(plan(g, "upgrade", "d1", ["b"]).steps, ["up:c1", "up:d1"]);
    const both = plan(g, "upgrade", "heads", ["a"]);
    assert.deepEqual([...both.steps].sort(), ["up:b", "up:c1", "up:c2", "up:d1", "up:d2"]);
    assert.deepEqual(both.heads, ["d1", "d2"]);
  });

  it("downgrade several branches to below the branch point", () => {
    const down = plan(g, "downgrade", "a", ["d1", "d2"]);
    assert.deepEqual([...down.steps].sort(), [
      "down:b",
      "down:c1",
      "down:c2",
      "down:d1",
      "down:d2",
    ]);
    assert.equal(down.steps.at(-1), "down:b");
    assert.deepEqual(down.heads, ["a"]);
  });

  it("relative targets on a label", () => {
    assert.deepEqual(plan(g, "upgrade", "c2branch@head-1", ["b"]).steps, ["up:c2"]);
    const basePlus2 = plan(g, "downgrade", "base+2", ["d2", "d1"]);
    assert.deepEqual([...basePlus2.steps].sort(), ["down:c1", "down:c2", "down:d1", "down:d2"]);
    assert.deepEqual(basePlus2.heads, ["b"]);
    assert.deepEqual(plan(g, "downgrade", "c2branch@base+2", ["d2", "d1"]), {
      ...plan(g, "downgrade", "c2branch@base+2", ["d2", "d1"]),
      steps: ["down:d2", "down:c2"],
      heads: ["d1"],
    });
    assert.deepEqual(plan(g, "downgrade", "c2", ["d2", "d1"]).heads, ["c2", "d1"]);
    assert.deepEqual(plan(g, "downgrade", "c2branch@base+3", ["d2", "d1"]).steps, ["down:d2"]);
  });

  it("-1 from several heads is refused (Alembic only warns and picks by row order)", () => {
    // Deliberate difference: a service must not guess which branch to take down.
    throwsCode(() => plan(g, "downgrade", "-1", ["d2", "d1"]), "AMBIGUOUS_DOWNGRADE");
  });

  it("labelled or relative-to-a-revision -1 with several heads is unambiguous", () => {
    assert.deepEqual(plan(g, "downgrade", "c1branch@-1", ["d1", "d2"]).heads, ["c1", "d2"]);
    assert.deepEqual(plan(g, "downgrade", "d2-1", ["d2", "c1"]).heads, ["c1", "c2"]);
    assert.deepEqual(plan(g, "downgrade", "d2-1", ["c1", "d2"]).steps, ["down:d2"]);
    assert.deepEqual(plan(g, "downgrade", "c1branch@head-1", ["d1", "d2"]).heads, ["c1", "d2"]);
  });

  it("<branch>@<rev> downgrades one branch only", () => {
    assert.deepEqual(plan(g, "downgrade", "c1branch@b", ["c1", "d2"]).heads, ["d2"]);
    assert.deepEqual(plan(g, "downgrade", "c2branch@b", ["c1", "d2"]).steps, [
      "down:d2",
      "down:c2",
    ]);
    assert.deepEqual(plan(g, "downgrade", "c2@b", ["d1", "d2"]).heads, ["d1"]);
    assert.deepEqual(plan(g, "downgrade", "d1@b", ["d1", "d2"]).steps, ["down:d1", "down:c1"]);
  });

  it("label@+1 moves that branch only", () => {
    assert.deepEqual(plan(g, "upgrade", "c2branch@+1", ["c1"]).heads, ["c1", "c2"]);
    assert.deepEqual(plan(g, "upgrade", "c2branch@+1", ["c1", "c2"]).steps, ["up:d2"]);
  });

  it("+1 from several heads is ambiguous", () => {
    throwsCode(
      () => plan(g, "upgrade", "+1", ["c1", "c2"]),
      "AMBIGUOUS_UPGRADE",
      /Ambiguous upgrade from multiple current revisions/,
    );
  });

  it("from and to base", () => {
    assert.deepEqual(plan(g, "upgrade", "base+1", []).heads, ["a"]);
    assert.deepEqual(plan(g, "upgrade", "+1", []).heads, ["a"]);
    assert.deepEqual(plan(g, "downgrade", "-1", ["a"]).heads, []);
    throwsCode(
      () => plan(g, "downgrade", "-1", []),
      "RELATIVE_OUT_OF_RANGE",
      /Relative revision -1 didn't produce 1 migrations/,
    );
  });

  it("downgrading to a revision already current does nothing", () => {
    assert.deepEqual(plan(g, "downgrade", "c2", ["d1", "c2"]).steps, []);
    assert.deepEqual(plan(g, "downgrade", "d1", ["d1", "c2"]).heads, ["c2", "d1"]);
  });

  it("head is refused with several heads; heads is fine", () => {
    throwsCode(
      () => plan(g, "upgrade", "head", []),
      "MULTIPLE_HEADS",
      /Multiple head revisions are present/,
    );
    assert.deepEqual(plan(g, "upgrade", "heads", []).heads, ["d1", "d2"]);
  });
});

describe("BranchFromMergepointTest: two roots merged, one side keeps going", () => {
  const g = graph([
    ["a1", []],
    ["b1", "a1"],
    ["c1", "b1"],
    ["a2", []],
    ["b2", "a2"],
    ["c2", "b2"],
    ["d1", ["c1", "c2"]],
    ["d2", "c2"],
  ]);

  it("upgrade to the merge point from one side", () => {
    const up = plan(g, "upgrade", "d1", ["d2", "b1"]);
    assert.deepEqual(up.steps, ["up:c1", "up:d1"]);
    assert.deepEqual(up.heads, ["d1", "d2"]);
  });

  it("downgrade below the merge point on one side", () => {
    const down = plan(g, "downgrade", "b1", ["d2", "d1"]);
    assert.deepEqual(down.steps, ["down:d1", "down:c1"]);
    assert.deepEqual(down.heads, ["b1", "d2"]);
  });
});

describe("DependsOnBranchTestOne: depends_on across two roots", () => {
  const g = graph([
    ["a1", [], { labels: ["lib1"] }],
    ["b1", "a1"],
    ["c1", "b1"],
    ["a2", []],
    ["b2", "a2"],
    ["c2", "b2", { dependsOn: ["c1"] }],
    ["d1", "c1"],
    ["e1", "d1"],
    ["f1", "e1"],
  ]);

  it("upgrading c2 applies its dependency's branch first", () => {
    const up = plan(g, "upgrade", "c2", []);
    assert.ok(up.steps.indexOf("up:c1") < up.steps.indexOf("up:c2"));
    assert.deepEqual(up.heads, ["c2"]);
  });

  it("downgrade to a dependency keeps the dependent's row", () => {
    assert.deepEqual(plan(g, "downgrade", "c1", ["c2", "d1"]).heads, ["c2"]);
  });

  it("stamp across a dependency", () => {
    assert.deepEqual(plan(g, "stamp", "b1", ["e1", "c2"]).heads, ["b1"]);
  });

  it("label@head follows the labelled lineage", () => {
    assert.deepEqual(plan(g, "upgrade", "lib1@head", []).heads, ["f1"]);
  });
});

describe("ForestTest: two independent roots", () => {
  const g = graph([
    ["a1", []],
    ["b1", "a1"],
    ["a2", []],
    ["b2", "a2"],
  ]);

  it("base to heads upgrades both trees", () => {
    const up = plan(g, "upgrade", "heads", []);
    assert.deepEqual([...up.steps].sort(), ["up:a1", "up:a2", "up:b1", "up:b2"]);
    assert.deepEqual(up.heads, ["b1", "b2"]);
  });

  it("stamp to heads inserts both rows, and nothing when already there", () => {
    const stamp = plan(g, "stamp", "heads", []).plan;
    assert.equal(stamp.steps.length, 2);
    assert.deepEqual(plan(g, "stamp", "heads", ["b1", "b2"]).steps, []);
  });
});

describe("MergedPathTest: b -> c1 -> d1 and b -> c2 -> d2 merged into e -> f", () => {
  const g = graph([
    ["a", []],
    ["b", "a"],
    ["c1", "b"],
    ["d1", "c1"],
    ["c2", "b", { labels: ["c2branch"] }],
    ["d2", "c2"],
    ["e", ["d1", "d2"]],
    ["f", "e"],
  ]);

  it("stamps across the merge point move one row", () => {
    assert.deepEqual(plan(g, "stamp", "c2", ["e"]).plan.steps[0]?.headChange, {
      kind: "update",
      from: "e",
      to: "c2",
    });
    assert.deepEqual(plan(g, "stamp", "a", ["e"]).plan.steps[0]?.headChange, {
      kind: "update",
      from: "e",
      to: "a",
    });
    assert.deepEqual(plan(g, "stamp", "e", ["c2"]).plan.steps[0]?.headChange, {
      kind: "update",
      from: "c2",
      to: "e",
    });
    assert.deepEqual(plan(g, "stamp", "e", ["b"]).plan.steps[0]?.headChange, {
      kind: "update",
      from: "b",
      to: "e",
    });
  });

  it("stamps up across the merge from two branches delete one row and update the other", () => {
    // (sorted heads: see the note in BranchedPathTest)
    assert.deepEqual(plan(g, "stamp", "e", ["d1", "c2"]).plan.steps[0]?.headChange, {
      kind: "merge",
      delete: ["c2"],
      from: "d1",
      to: "e",
    });
    assert.deepEqual(plan(g, "stamp", "c2branch@head", ["d1", "c2"]).plan.steps[0]?.headChange, {
      kind: "merge",
      delete: ["c2"],
      from: "d1",
      to: "f",
    });
  });

  it("upgrade across the merge point: branch, merge (DELETE one, UPDATE the other), continue", () => {
    const up = plan(g, "upgrade", "f", ["b"]);
    assert.deepEqual([...up.steps.slice(0, 4)].sort(), ["up:c1", "up:c2", "up:d1", "up:d2"]);
    assert.deepEqual(up.steps.slice(4), ["up:e", "up:f"]);
    assert.equal(up.plan.steps[4]?.headChange.kind, "merge");
    assert.deepEqual(up.heads, ["f"]);
  });

  it("downgrade across the merge point unmerges, then removes both branches", () => {
    const down = plan(g, "downgrade", "b", ["f"]);
    assert.deepEqual(down.steps.slice(0, 2), ["down:f", "down:e"]);
    assert.equal(down.plan.steps[1]?.headChange.kind, "unmerge");
    assert.deepEqual([...down.steps.slice(2)].sort(), ["down:c1", "down:c2", "down:d1", "down:d2"]);
    assert.deepEqual(down.heads, ["b"]);
  });
});
