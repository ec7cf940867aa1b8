import type { RevisionSpec } from "../script/revision-script.js";

/**
 * One revision inside a {@link RevisionGraph}, with the links Alembic's `Revision` keeps.
 * Mutable only while the graph is being built; frozen in spirit afterwards.
 */
export interface RevisionNode<T extends RevisionSpec = RevisionSpec> {
  readonly id: string;
  readonly spec: T;
  /** `down_revision`: the versioned parents. */
  readonly downRevisions: readonly string[];
  /** `depends_on` resolved to revision ids. */
  resolvedDependencies: readonly string[];
  /** Dependencies not already implied by an ancestor's dependencies. */
  normalizedDependencies: readonly string[];
  /** Children through `down_revision` only. */
  readonly nextRevisions: Set<string>;
  /** Children through `down_revision` or `depends_on`. */
  readonly allNextRevisions: Set<string>;
  /** The labels declared on this revision. */
  readonly ownBranchLabels: readonly string[];
  /** Declared labels plus the labels inherited along its branch (Alembic's `branch_labels`). */
  readonly branchLabels: Set<string>;
}

/** `_all_down_revisions`: parents through `down_revision` and every resolved dependency. */
export function allDownRevisions(node: RevisionNode): string[] {
  return dedupe([...node.downRevisions, ...node.resolvedDependencies]);
}

/** `_normalized_down_revisions`: parents plus the dependencies no ancestor already implies. */
export function normalizedDownRevisions(node: RevisionNode): string[] {
  return dedupe([...node.downRevisions, ...node.normalizedDependencies]);
}

/**
 * Alembic's `is_branch_point`: more than one revision has this as a down revision. What
 * `branches`, "(branchpoint)" and "Branches into" show; a dependent (depends_on) does not count.
 */
export function isBranchPoint(node: RevisionNode): boolean {
  return node.nextRevisions.size > 1;
}

/** Alembic's `_is_real_branch_point`: dependents count too (where branch labels stop spreading). */
export function isRealBranchPoint(node: RevisionNode): boolean {
  return node.allNextRevisions.size > 1;
}

export function isMergePoint(node: RevisionNode): boolean {
  return node.downRevisions.length > 1;
}

export function dedupe<T>(items: Iterable<T>): T[] {
  return [...new Set(items)];
}
