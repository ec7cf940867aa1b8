import { ErrorCode, FleetwayError } from "../engine/errors.js";
import type { RevisionGraph } from "../engine/graph/revision-graph.js";
import { topologicalSort } from "../engine/graph/topological-sort.js";
import type { RevisionScript } from "../engine/script/revision-script.js";
import { resolveUpgradeTargets } from "../engine/target/upgrade-target.js";

/**
 * `history -r start:end`, as Alembic's `walk_revisions(start, end)`: the revisions from `start`
 * (inclusive; empty or `base` for everything below) up to `end` (inclusive; empty = `heads`),
 * newest first. `start` must be an ancestor of `end`.
 */
export function historyRange(graph: RevisionGraph<RevisionScript>, range: string): string[] {
  const colon = range.indexOf(":");
  if (colon === -1) {
    throw new FleetwayError(
      ErrorCode.USAGE_ERROR,
      `History range requires [start]:[end], [start]:, or :[end]; got '${range}'`,
    );
  }
  const start = range.slice(0, colon).trim() || "base";
  const end = range.slice(colon + 1).trim() || "heads";
  const targets = resolveUpgradeTargets(graph, [], end);
  const required = new Map(
    [...graph.ancestors(targets, { check: true }), ...targets].map((n) => [n.id, n]),
  );
  const lower = graph.getRevisions(start);
  if (lower.some((rev) => !required.has(rev.id))) {
    throw new FleetwayError(
      ErrorCode.NOT_A_VALID_TARGET,
      `Requested range ${start}:${end} does not refer to ancestor/descendant revisions along the same branch`,
      { start, end },
    );
  }
  let selected = [...required.values()];
  if (lower.length > 0) {
    const below = new Set(graph.ancestors(lower).map((n) => n.id));
    const above = new Set(
      graph.descendants(lower, { includeDependencies: false }).map((n) => n.id),
    );
    const lowerIds = new Set(lower.map((n) => n.id));
    selected = selected.filter((n) => lowerIds.has(n.id) || (!below.has(n.id) && above.has(n.id)));
  }
  return topologicalSort(graph, selected, targets);
}
