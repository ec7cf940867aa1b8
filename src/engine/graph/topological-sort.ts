import type { RevisionSpec } from "../script/revision-script.js";
import type { RevisionGraph } from "./revision-graph.js";
import { normalizedDownRevisions, type RevisionNode } from "./revision-node.js";

/**
 * Alembic's `_topological_sort`: orders `revisions` top-down (every revision before its down
 * revisions and dependencies), walking one branch as far as it can before switching, so a plan
 * runs a branch's revisions together. `heads` are where the walk starts; load order breaks ties.
 * Upgrades run the result reversed; downgrades run it as is.
 */
export function topologicalSort<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  revisions: Iterable<RevisionNode<T>>,
  heads: Iterable<RevisionNode<T>>,
): string[] {
  const ancestorsOf = (id: string): Set<string> =>
    new Set(graph.ancestors([graph.node(id)]).map((n) => n.id));
  const todo = new Set([...revisions].map((r) => r.id));
  const currentHeads = [...new Set([...heads].map((h) => h.id).filter((id) => todo.has(id)))].sort(
    (a, b) => graph.indexOf(a) - graph.indexOf(b),
  );
  const ancestorsByIndex = currentHeads.map(ancestorsOf);
  const output: string[] = [];

  let candidateIndex = 0;
  while (currentHeads.length > 0) {
    const candidate = currentHeads[candidateIndex] as string;
    // Another head that still needs this candidate must be walked first.
    const blockingIndex = ancestorsByIndex.findIndex(
      (ancestors, index) => index !== candidateIndex && ancestors.has(candidate),
    );
    if (blockingIndex !== -1) {
      candidateIndex = blockingIndex;
      continue;
    }
    if (todo.delete(candidate)) output.push(candidate);

    const candidateNode = graph.node(candidate);
    const headsToAdd = normalizedDownRevisions(candidateNode).filter(
      (id) => todo.has(id) && !currentHeads.includes(id),
    );
    const [first, ...rest] = headsToAdd;
    if (first === undefined) {
      currentHeads.splice(candidateIndex, 1);
      ancestorsByIndex.splice(candidateIndex, 1);
      candidateIndex = Math.max(candidateIndex - 1, 0);
    } else if (
      candidateNode.normalizedDependencies.length === 0 &&
      candidateNode.downRevisions.length === 1
    ) {
      // Plain movement down a line: the ancestor set only loses the candidate.
      currentHeads[candidateIndex] = first;
      ancestorsByIndex[candidateIndex]?.delete(candidate);
    } else {
      currentHeads[candidateIndex] = first;
      currentHeads.push(...rest);
      ancestorsByIndex[candidateIndex] = ancestorsOf(first);
      ancestorsByIndex.push(...rest.map(ancestorsOf));
    }
  }
  if (todo.size > 0) {
    throw new Error(`topological sort left revisions behind: ${[...todo].join(", ")}`);
  }
  return output;
}
