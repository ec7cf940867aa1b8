/**
 * What counts as a branch point, as Alembic reports it (`is_branch_point`, which `alembic
 * branches`, "(branchpoint)" and "Branches into" use): children by down_revision only.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatRevisionLine } from "../../src/cli/format-revision.js";
import type { RevisionGraph } from "../../src/engine/graph/revision-graph.js";
import type { RevisionScript } from "../../src/engine/script/revision-script.js";
import { graph } from "../support/graph-helpers.js";

describe("branch labels and branch points (Alembic parity)", () => {
  it("a revision that another only depends_on is not a branch point", () => {
    const g = graph([
      ["a", []],
      ["b", "a"],
      ["c", [], { dependsOn: ["a"] }],
    ]);
    const line = formatRevisionLine(
      g as unknown as RevisionGraph<RevisionScript>,
      g.node("a") as never,
    );
    assert.doesNotMatch(line, /\(branchpoint\)/);
  });
});
