import { ErrorCode, FleetwayError } from "../errors.js";
import type { RevisionGraph } from "../graph/revision-graph.js";
import type { RevisionNode } from "../graph/revision-node.js";
import type { RevisionSpec } from "../script/revision-script.js";

/** Where a walk starts or ends: a revision, the explicit base, or "nowhere yet" (null). */
export type WalkPoint<T extends RevisionSpec> = RevisionNode<T> | "base" | null;

/**
 * Alembic's `_walk`: moves `steps` revisions up (positive) or down (negative) the graph.
 * Walking up from null starts at the bases; walking down from null starts at the heads.
 * Walking past either end returns `undefined` when `noOverwalk` (the caller reports it),
 * otherwise stops where it is. More than one way to go is an "Ambiguous walk".
 */
export function walk<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  start: WalkPoint<T>,
  steps: number,
  branchLabel: string | null = null,
  noOverwalk = true,
): WalkPoint<T> | undefined {
  let current: WalkPoint<T> = start;
  for (let i = 0; i < Math.abs(steps); i++) {
    let children: WalkPoint<T>[];
    if (steps > 0) {
      if (current === "base") current = null;
      const up = graph.getRevisions(current === null ? graph.bases : [...current.nextRevisions]);
      children = branchLabel !== null ? graph.filterForLineage(up, branchLabel) : up;
    } else if (current === "base") {
      children = [];
    } else {
      children = graph.getRevisions(current === null ? graph.heads : current.downRevisions);
      if (children.length === 0) children = ["base"];
    }
    if (children.length === 0) return noOverwalk ? undefined : current;
    if (children.length > 1) {
      const from = current === null || current === "base" ? "base" : current.id;
      const candidates = children.map((c) => (c === null || c === "base" ? "base" : c.id));
      throw new FleetwayError(
        ErrorCode.AMBIGUOUS_WALK,
        `Ambiguous walk: from ${from} there are ${candidates.length} ways to go ` +
          `(${candidates.join(", ")}); name the destination revision instead`,
        { from, candidates },
      );
    }
    current = children[0] ?? null;
  }
  return current;
}
