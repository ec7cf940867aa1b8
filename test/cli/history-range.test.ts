/**
 * `fleetway history -r start:end` against Alembic's `history -r` (alembic/command.py `history`,
 * ScriptDirectory.walk_revisions = RevisionMap.iterate_revisions(end, start, inclusive=True,
 * assert_relative_length=False)). Expectations were checked against Alembic's own code. The
 * second half ports tests/test_revision.py's upgrade-direction iterations (Alembic's test class and
 * test names; its `iterate_revisions(upper, lower)` is `-r lower:upper` here).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { historyRange } from "../../src/cli/history-range.js";
import { graph } from "../support/graph-helpers.js";

/** tests/test_command.py HistoryTest's three_rev_fixture. */
const three = graph([
  ["a", []],
  ["b", "a"],
  ["c", "b"],
]);
const linear = graph([
  ["a", []],
  ["b", "a"],
  ["c", "b"],
  ["d", "c"],
  ["e", "d"],
]);
/** A trunk r1-r2-r3, a shoppingcart branch off r2, and a networking branch with its own base. */
const branches = graph([
  ["r1", []],
  ["r2", "r1"],
  ["r3", "r2"],
  ["n1", [], { labels: ["networking"] }],
  ["n2", "n1"],
  ["n3", "n2"],
  ["s1", "r2", { labels: ["shoppingcart"] }],
  ["s2", "s1"],
]);

describe("HistoryTest (tests/test_command.py)", () => {
  it("history_full, open ends", () => {
    for (const range of [":", "base:", ":heads", "base:heads"]) {
      assert.deepEqual(historyRange(three, range), ["c", "b", "a"], range);
    }
  });
  it("history_num_range a:b, history_base_to_num :b, history_num_to_head a:", () => {
    assert.deepEqual(historyRange(three, "a:b"), ["b", "a"]);
    assert.deepEqual(historyRange(three, ":b"), ["b", "a"]);
    assert.deepEqual(historyRange(three, "a:"), ["c", "b", "a"]);
  });
  it("history_num_plus_relative a:+2", () => {
    assert.deepEqual(historyRange(three, "a:+2"), ["c", "b", "a"]);
  });
  it("history_relative_to_num -2:c, history_too_large_relative_to_num -5:c", () => {
    assert.deepEqual(historyRange(three, "-2:c"), ["c", "b", "a"]);
    assert.deepEqual(historyRange(three, "-5:c"), ["c", "b", "a"]);
  });
  it("history_current_to_head_as_b / _as_base: current: from the database's heads", () => {
    assert.deepEqual(historyRange(three, "current:", ["b"]), ["c", "b"]);
    assert.deepEqual(historyRange(three, "current:", []), ["c", "b", "a"]);
  });
});

describe("relative ends", () => {
  it("<rev>:+N counts N up from the start; past the top it stops there", () => {
    assert.deepEqual(historyRange(linear, "b:+2"), ["d", "c", "b"]);
    assert.deepEqual(historyRange(linear, "c:+10"), ["e", "d", "c"]);
    assert.deepEqual(historyRange(three, "c:+1"), ["c"]);
  });
  it("base:+N and :+N count from base", () => {
    assert.deepEqual(historyRange(linear, "base:+1"), ["a"]);
    assert.deepEqual(historyRange(linear, ":+2"), ["b", "a"]);
  });
  it("-N: starts N below the heads; -N:<rev> too, unless that walks past base", () => {
    assert.deepEqual(historyRange(linear, "-2:"), ["e", "d", "c"]);
    assert.deepEqual(historyRange(three, "-1:"), ["c", "b"]);
    assert.deepEqual(historyRange(linear, "-2:c"), ["c"]);
    assert.throws(
      () => historyRange(linear, "-1:b"),
      /NOT_A_VALID_TARGET|Requested range -1:b does not refer to ancestor\/descendant revisions/,
    );
  });
  it("-N past base means from base (Alembic refuses -N landing exactly on base, and -N: past it)", () => {
    assert.deepEqual(historyRange(three, "-3:"), ["c", "b", "a"]);
    assert.deepEqual(historyRange(three, "-4:"), ["c", "b", "a"]);
    assert.deepEqual(historyRange(linear, "-10:"), ["e", "d", "c", "b", "a"]);
  });
  it(":<rev>+N and :<rev>-N are relative to that revision", () => {
    assert.deepEqual(historyRange(linear, ":c+1"), ["d", "c", "b", "a"]);
    assert.deepEqual(historyRange(linear, ":c-1"), ["b", "a"]);
  });
  it("current at either end, and current:+N", () => {
    assert.deepEqual(historyRange(three, ":current", ["b"]), ["b", "a"]);
    assert.deepEqual(historyRange(three, "current:+1", ["b"]), ["c", "b"]);
    assert.deepEqual(historyRange(three, "current:+1", []), ["a"]);
    assert.deepEqual(historyRange(three, "current:c", ["a"]), ["c", "b", "a"]);
    assert.deepEqual(historyRange(three, "current:", ["c"]), ["c"]);
  });
  it(":current on an empty database is nothing (Alembic reads an empty current as heads)", () => {
    assert.deepEqual(historyRange(three, ":current", []), []);
  });
  it("current without the database's heads is a usage error", () => {
    assert.throws(() => historyRange(three, "current:"), /needs the database/);
  });
});

describe("branch-qualified ends", () => {
  it("label@base: is that branch alone, up to its head", () => {
    assert.deepEqual(historyRange(branches, "networking@base:"), ["n3", "n2", "n1"]);
    assert.deepEqual(historyRange(branches, "networking@base:heads"), ["n3", "n2", "n1"]);
    // A branch off the trunk includes the trunk below its branch point, as in Alembic.
    assert.deepEqual(historyRange(branches, "shoppingcart@base:"), ["s2", "s1", "r2", "r1"]);
  });
  it("<rev>@base: stands for the revision's branch label", () => {
    assert.deepEqual(historyRange(branches, "n2@base:"), ["n3", "n2", "n1"]);
    assert.throws(() => historyRange(branches, "r1@base:"), /Revision r1 is on no labelled branch/);
  });
  it("label@-N:, :label@head, :label@+N", () => {
    assert.deepEqual(historyRange(branches, "networking@-1:"), ["n3", "n2"]);
    assert.deepEqual(historyRange(branches, ":networking@head"), ["n3", "n2", "n1"]);
    assert.deepEqual(historyRange(branches, ":networking@+2"), ["n2", "n1"]);
    assert.deepEqual(historyRange(branches, "networking:"), ["n3", "n2", "n1"]);
  });
  it("ambiguity is refused as in Alembic", () => {
    assert.throws(() => historyRange(branches, "base:+1"), /Ambiguous walk/);
    assert.throws(() => historyRange(branches, ":head"), /Multiple head revisions/);
    assert.deepEqual(historyRange(branches, "r1:+1"), ["r2", "r1"]);
  });
});

describe("malformed ranges", () => {
  it("need exactly one colon", () => {
    for (const range of ["", "a", "a:b:c"]) {
      assert.throws(() => historyRange(three, range), /History range requires \[start\]:\[end\]/);
    }
  });
  it("refuse a start that is not below the end", () => {
    assert.throws(() => historyRange(three, "b:a"), /Requested range b:a does not refer/);
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
  it("test_two_branches_end_behind_branch a2:merge", () => {
    assert.deepEqual(historyRange(g, "a2:merge"), [
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
  it("test_two_branches_end_in_branch b1:merge", () => {
    assert.deepEqual(historyRange(g, "b1:merge"), ["merge", "e2b1", "db1", "cb1", "b1"]);
  });
  it("test_two_branches_to_root a1:merge", () => {
    assert.deepEqual(historyRange(g, "a1:merge"), [
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
});

describe("DiamondTest", () => {
  const g = graph([
    ["a", []],
    ["b1", "a"],
    ["b2", "a"],
    ["c", ["b1", "b2"]],
    ["d", "c"],
  ]);
  it("test_iterate_simple_diamond a:d", () => {
    assert.deepEqual(historyRange(g, "a:d"), ["d", "c", "b1", "b2", "a"]);
  });
});

describe("EmptyMapTest", () => {
  const g = graph([]);
  it("test_iterate base:head", () => {
    assert.deepEqual(historyRange(g, "base:head"), []);
  });
});

describe("GraphWithLoopTest (test_revision_dupe_head)", () => {
  const g = graph([
    ["user_foo", []],
    ["user", "user_foo", { dependsOn: ["user_foo"] }],
  ]);
  it("test_revision_dupe_head :heads", () => {
    assert.deepEqual(historyRange(g, ":heads"), ["user", "user_foo"]);
  });
});

describe("GraphWithLoopTest (test_revision_map_no_loop_w_overlapping_substrings)", () => {
  const g = graph([
    ["user_foo", []],
    ["user", "user_foo"],
  ]);
  it("test_revision_map_no_loop_w_overlapping_substrings :heads", () => {
    assert.deepEqual(historyRange(g, ":heads"), ["user", "user_foo"]);
  });
});

describe("GraphWithLoopTest (test_revision_map_no_loop_w_overlapping_substrings_dependencies)", () => {
  const g = graph([
    ["user_foo", []],
    ["user", [], { dependsOn: ["user_foo"] }],
  ]);
  it("test_revision_map_no_loop_w_overlapping_substrings_dependencies :heads", () => {
    assert.deepEqual(historyRange(g, ":heads"), ["user", "user_foo"]);
  });
});

describe("LabeledBranchTest", () => {
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
  it("test_branch_w_down_relative ebranch@-2:heads", () => {
    assert.deepEqual(historyRange(g, "ebranch@-2:heads"), ["f", "someothername", "e"]);
  });
  it("test_branch_w_up_relative base:ebranch@+2", () => {
    assert.deepEqual(historyRange(g, "base:ebranch@+2"), ["e", "d"]);
  });
  it("test_iterate_head_to_named_base ebranch@base:heads", () => {
    assert.deepEqual(historyRange(g, "ebranch@base:heads"), ["f", "someothername", "e", "d"]);
  });
  it("test_iterate_head_to_named_base abranch@base:heads", () => {
    assert.deepEqual(historyRange(g, "abranch@base:heads"), ["c", "somelongername", "b", "a"]);
  });
  it("test_iterate_head_to_version_specific_base e@base:heads", () => {
    assert.deepEqual(historyRange(g, "e@base:heads"), ["f", "someothername", "e", "d"]);
  });
  it("test_iterate_head_to_version_specific_base c@base:heads", () => {
    assert.deepEqual(historyRange(g, "c@base:heads"), ["c", "somelongername", "b", "a"]);
  });
  it("test_iterate_named_head_to_base base:ebranch@head", () => {
    assert.deepEqual(historyRange(g, "base:ebranch@head"), ["f", "someothername", "e", "d"]);
  });
  it("test_iterate_named_head_to_base base:abranch@head", () => {
    assert.deepEqual(historyRange(g, "base:abranch@head"), ["c", "somelongername", "b", "a"]);
  });
  it("test_iterate_named_head_to_heads ebranch@head:heads", () => {
    assert.deepEqual(historyRange(g, "ebranch@head:heads"), ["f"]);
  });
  it("test_iterate_named_rev_to_heads ebranch@d:heads", () => {
    assert.deepEqual(historyRange(g, "ebranch@d:heads"), ["f", "someothername", "e", "d"]);
  });
  it("test_iterate_to_branch_at_rev ebranch@d:heads", () => {
    assert.deepEqual(historyRange(g, "ebranch@d:heads"), ["f", "someothername", "e", "d"]);
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
  it("test_iterate_full base:heads", () => {
    assert.deepEqual(historyRange(g, "base:heads"), ["b2", "d11", "d12", "c1", "b1", "a"]);
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
  it("test_heads_to_base base:heads", () => {
    assert.deepEqual(historyRange(g, "base:heads"), [
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
  it("test_we_need_base2_upgrade b_2@base:heads", () => {
    assert.deepEqual(historyRange(g, "b_2@base:heads"), [
      "d2",
      "c2",
      "b2",
      "a2",
      "base2",
      "a3",
      "base3",
    ]);
  });
  it("test_we_need_base3_upgrade b_3@base:heads", () => {
    assert.deepEqual(historyRange(g, "b_3@base:heads"), ["b3", "a3", "base3"]);
  });
  it("test_we_need_head1_upgrade base:b1b@head", () => {
    assert.deepEqual(historyRange(g, "base:b1b@head"), ["b1b", "a1b", "base1", "a3", "base3"]);
  });
  it("test_we_need_head2_upgrade base:b_2@head", () => {
    assert.deepEqual(historyRange(g, "base:b_2@head"), [
      "d2",
      "c2",
      "b2",
      "a2",
      "base2",
      "a3",
      "base3",
    ]);
  });
  it("test_we_need_head3_upgrade base:b_3@head", () => {
    assert.deepEqual(historyRange(g, "base:b_3@head"), ["b3", "a3", "base3"]);
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
  it("test_traverse_no_parent_but_a_dep base:heads", () => {
    assert.deepEqual(historyRange(g, "base:heads"), ["b1", "c3", "c2", "a1", "base1"]);
  });
});

describe("MultipleBaseCrossDependencyTestTwo", () => {
  const g = graph([
    ["base1", [], { labels: ["b_1"] }],
    ["a1", "base1"],
    ["b1", "a1"],
    ["c1", "b1"],
    ["base2", [], { labels: ["b_2"], dependsOn: ["b_1"] }],
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
  it("test_heads_to_base base:heads", () => {
    assert.deepEqual(historyRange(g, "base:heads"), [
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
  it("test_we_need_base1 b_1@base:heads", () => {
    assert.deepEqual(historyRange(g, "b_1@base:heads"), ["c1", "b1", "a1", "base1"]);
  });
  it("test_we_need_base2 b_2@base:heads", () => {
    assert.deepEqual(historyRange(g, "b_2@base:heads"), ["d2", "c2", "b2", "a2", "base2", "base1"]);
  });
  it("test_we_need_base3 b_3@base:heads", () => {
    assert.deepEqual(historyRange(g, "b_3@base:heads"), [
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
  it("test_we_need_head1 base:b_1@head", () => {
    assert.deepEqual(historyRange(g, "base:b_1@head"), ["c1", "b1", "a1", "base1"]);
  });
  it("test_we_need_head2 base:b_2@head", () => {
    assert.deepEqual(historyRange(g, "base:b_2@head"), ["d2", "c2", "b2", "a2", "base2", "base1"]);
  });
  it("test_we_need_head3 base:b_3@head", () => {
    assert.deepEqual(historyRange(g, "base:b_3@head"), [
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
  it("test_heads_to_base base:heads", () => {
    assert.deepEqual(historyRange(g, "base:heads"), [
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
    ]);
  });
  it("test_heads_to_blank :heads", () => {
    assert.deepEqual(historyRange(g, ":heads"), [
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
    ]);
  });
  it("test_specific_path_one base3:b3", () => {
    assert.deepEqual(historyRange(g, "base3:b3"), ["b3", "a3", "base3"]);
  });
});

describe("MultipleBranchTest", () => {
  const g = graph([
    ["a", []],
    ["b1", "a"],
    ["b2", "a"],
    ["cb1", "b1"],
    ["cb2", "b2"],
    ["d1cb1", "cb1"],
    ["d2cb1", "cb1"],
    ["d1cb2", "cb2"],
    ["d2cb2", "cb2"],
    ["d3cb2", "cb2"],
    ["d1d2cb2", ["d1cb2", "d2cb2"]],
  ]);
  it("test_iterate_from_merge_point a:d1d2cb2", () => {
    assert.deepEqual(historyRange(g, "a:d1d2cb2"), ["d1d2cb2", "d1cb2", "d2cb2", "cb2", "b2", "a"]);
  });
  it("test_iterate_single_branch a:d3cb2", () => {
    assert.deepEqual(historyRange(g, "a:d3cb2"), ["d3cb2", "cb2", "b2", "a"]);
  });
  it("test_iterate_single_branch_to_base base:d3cb2", () => {
    assert.deepEqual(historyRange(g, "base:d3cb2"), ["d3cb2", "cb2", "b2", "a"]);
  });
});
