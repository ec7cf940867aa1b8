import type { RevisionGraph } from "../graph/revision-graph.js";
import type { RevisionNode } from "../graph/revision-node.js";
import type { RevisionSpec } from "../script/revision-script.js";
import type { Direction, HeadChange } from "./migration-plan.js";

/** One stamp movement before its head change is known (Alembic's `StampStep`). */
export interface StampMove {
  readonly from: readonly string[];
  readonly to: readonly string[];
  readonly direction: Direction;
  /** A whole branch appears or disappears rather than moving. */
  readonly branchMove: boolean;
}

/**
 * Alembic's `_stamp_revs`: how to move the version table from the current heads to the given
 * destinations (`base`, `heads`, ids, labels) without running anything.
 */
export function collectStampMoves<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  currentHeads: readonly string[],
  destinations: readonly string[],
): StampMove[] {
  const headRevs = graph.getRevisions(currentHeads);
  const filteredHeads = unique(
    destinations.flatMap((dest) => graph.filterForLineage(headRevs, dest, true)),
  );
  const dests: (RevisionNode<T> | null)[] = graph.getRevisions(destinations);
  if (dests.length === 0) dests.push(null);

  const moves: StampMove[] = [];
  const filteredIds = new Set(filteredHeads.map((h) => h.id));
  for (const dest of dests) {
    if (dest === null) {
      for (const head of filteredHeads) {
        moves.push({ from: [head.id], to: [], direction: "down", branchMove: true });
      }
      continue;
    }
    if (filteredIds.has(dest.id)) continue;
    const below = graph.descendants([dest]).some((n) => filteredIds.has(n.id));
    const above = graph.ancestors([dest]).some((n) => filteredIds.has(n.id));
    const from = filteredHeads.map((h) => h.id);
    if (below) moves.push({ from, to: [dest.id], direction: "down", branchMove: false });
    else if (above) moves.push({ from, to: [dest.id], direction: "up", branchMove: false });
    else moves.push({ from: [], to: [dest.id], direction: "up", branchMove: true });
  }
  return moves;
}

/** `HeadMaintainer.update_to_step` for a stamp movement. */
export function headChangeForStamp(move: StampMove, heads: ReadonlySet<string>): HeadChange {
  const { from, to, direction, branchMove } = move;
  if (direction === "down" && branchMove) return { kind: "delete", version: from[0] as string };
  const fromMissing = from.some((f) => !heads.has(f));
  const toMissing = to.some((t) => !heads.has(t));
  if (direction === "up" && (branchMove || fromMissing) && toMissing) {
    return { kind: "insert", version: to[0] as string };
  }
  if (from.length > 1) {
    return {
      kind: "merge",
      delete: from.slice(0, -1),
      from: from[from.length - 1] as string,
      to: to[0] as string,
    };
  }
  return { kind: "update", from: from[0] as string, to: to[0] as string };
}

function unique<T extends RevisionSpec>(nodes: RevisionNode<T>[]): RevisionNode<T>[] {
  return [...new Map(nodes.map((n) => [n.id, n])).values()];
}
