import { ErrorCode, FleetwayError } from "../errors.js";
import type { RevisionGraph } from "../graph/revision-graph.js";
import type { RevisionNode } from "../graph/revision-node.js";
import { topologicalSort } from "../graph/topological-sort.js";
import type { RevisionSpec } from "../script/revision-script.js";
import { resolveDowngradeTarget } from "../target/downgrade-target.js";
import { resolveUpgradeTargets } from "../target/upgrade-target.js";

/**
 * Alembic's `_upgrade_revs` (`_collect_upgrade_revisions` with an implicit base): every revision
 * the target needs that the current heads do not already imply, in execution order.
 */
export function collectUpgradeRevisions<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  currentHeads: readonly string[],
  target: string,
): string[] {
  const targets = resolveUpgradeTargets(graph, currentHeads, target);
  const required = union(graph.ancestors(targets, { check: true }), targets);
  const current = graph.getRevisions(currentHeads);
  const have = union(graph.ancestors(current, { check: true }), current);
  const needs = [...required.values()].filter((node) => !have.has(node.id));
  return topologicalSort(graph, needs, targets).reverse();
}

/**
 * Alembic's `_downgrade_revs` (`_collect_downgrade_revisions`): every applied revision above the
 * destination (on the selected branch only, for `label@rev`, `<rev>@<rev>` and `-N`), in
 * execution order.
 */
export function collectDowngradeRevisions<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  currentHeads: readonly string[],
  target: string,
): string[] {
  const { branchLabel, revision } = resolveDowngradeTarget(graph, currentHeads, target);
  let roots: RevisionNode<T>[] =
    revision === null
      ? graph.bases.map((id) => graph.node(id))
      : graph.getRevisions([...revision.nextRevisions]);

  if (branchLabel !== null && roots.length > 1) {
    const onBranch = new Set(
      graph
        .ancestors([graph.resolveBranch(branchLabel)], { includeDependencies: false })
        .map((n) => n.id),
    );
    roots = roots.filter((root) => onBranch.has(root.id));
    if (roots.length === 0) throw notValidDowngradeTarget(target, currentHeads);
  }

  const heads = graph.getRevisions(currentHeads);
  const active = new Set(graph.ancestors(heads).map((n) => n.id));
  const drop = graph.descendants(roots).filter((node) => active.has(node.id));
  if (revision !== null && drop.length === 0 && !heads.some((h) => h.id === revision.id)) {
    throw notValidDowngradeTarget(target, currentHeads);
  }
  return topologicalSort(graph, drop, heads);
}

export function notValidDowngradeTarget(
  target: string,
  currentHeads: readonly string[],
): FleetwayError {
  return new FleetwayError(
    ErrorCode.NOT_A_VALID_TARGET,
    `Destination ${target} is not a valid downgrade target from current head(s)`,
    { target, currentHeads: [...currentHeads] },
  );
}

function union<T extends RevisionSpec>(
  ...lists: RevisionNode<T>[][]
): Map<string, RevisionNode<T>> {
  return new Map(lists.flat().map((n) => [n.id, n]));
}
