import { ErrorCode, FleetwayError } from "../errors.js";
import type { RevisionGraph } from "../graph/revision-graph.js";
import type { RevisionNode } from "../graph/revision-node.js";
import type { RevisionSpec } from "../script/revision-script.js";
import { parseRelativeTarget } from "./relative-target.js";
import { walk } from "./walk.js";

/**
 * Alembic's `_parse_upgrade_target`: the revisions an upgrade must reach, given the current heads.
 * Absolute targets (`head`, `heads`, `label@head`, an id or prefix) resolve directly; relative ones
 * (`+N`, `label@+N`, `<rev>+N`, `<rev>-N`) walk the graph.
 */
export function resolveUpgradeTargets<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  currentHeads: readonly string[],
  target: string,
  options: RelativeOptions = {},
): RevisionNode<T>[] {
  const noOverwalk = options.noOverwalk ?? true;
  const relative = parseRelativeTarget(target);
  if (relative === null) return graph.getRevisions(target);

  const { branchLabel, symbol, delta, written } = relative;
  if (delta <= 0 && symbol === null) {
    throw relativeOutOfRange(written, delta);
  }
  if (symbol !== null) {
    // Relative to a named revision, not to the current state.
    const start =
      delta > 0
        ? graph.getRevision(symbol)
        : graph.getRevision(branchLabel === null ? symbol : `${branchLabel}@${symbol}`);
    const reached = walk(graph, start, delta, delta > 0 ? branchLabel : null, noOverwalk);
    if (reached === undefined) throw relativeOutOfRange(written, delta);
    return reached === null || reached === "base" ? [] : [reached];
  }

  const startRevs = startingPoints(graph, currentHeads, branchLabel);
  if (startRevs.length > 1) {
    throw new FleetwayError(
      ErrorCode.AMBIGUOUS_UPGRADE,
      "Ambiguous upgrade from multiple current revisions",
      { currentHeads: [...currentHeads], target },
    );
  }
  const start = startRevs[0] ?? null;
  const reached = walk(
    graph,
    start === null ? null : graph.node(start),
    delta,
    branchLabel,
    noOverwalk,
  );
  if (reached === undefined || reached === null || reached === "base") {
    throw relativeOutOfRange(written, delta);
  }
  return [reached];
}

/** How relative targets treat a walk past either end of the graph. */
export interface RelativeOptions {
  /**
   * True (the default, Alembic's `assert_relative_length`): `+N`/`-N` walking past an end is an
   * error. False: the walk stops at the end (what `history -r` ranges do).
   */
  readonly noOverwalk?: boolean;
}

/** Where `+N` starts: the current head on the requested branch, or its nearest ancestor tip. */
function startingPoints<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  currentHeads: readonly string[],
  branchLabel: string | null,
): (string | null)[] {
  if (currentHeads.length === 0) return [null];
  if (branchLabel === null) return [...currentHeads];
  const current = graph.getRevisions(currentHeads);
  const onBranch = graph.filterForLineage(current, branchLabel).map((n) => n.id);
  if (onBranch.length > 0) return onBranch;
  // The requested branch is not a head: backtrack to the tips of what is applied on it.
  const active = graph.filterForLineage(graph.ancestors(current), branchLabel);
  const below = new Set(
    active.flatMap((rev) => [...rev.downRevisions, ...rev.normalizedDependencies]),
  );
  const tips = active.map((rev) => rev.id).filter((id) => !below.has(id));
  return tips.length > 0 ? tips : [null];
}

export function relativeOutOfRange(written: string, delta: number): FleetwayError {
  return new FleetwayError(
    ErrorCode.RELATIVE_OUT_OF_RANGE,
    `Relative revision ${written} didn't produce ${Math.abs(delta)} migrations`,
    { relative: written },
  );
}
