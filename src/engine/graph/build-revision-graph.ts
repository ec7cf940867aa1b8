import { ErrorCode, FleetwayError } from "../errors.js";
import type { RevisionSpec } from "../script/revision-script.js";
import { RevisionGraph } from "./revision-graph.js";
import {
  allDownRevisions,
  isRealBranchPoint,
  isMergePoint,
  type RevisionNode,
} from "./revision-node.js";

/** Characters the target syntax gives meaning to (`label@head`, `+N`, `-N`, `start:end`). */
const FORBIDDEN_ID_CHARACTERS = /[@\-+:\s,]/;
/** Words a target resolves before any revision id. */
const RESERVED_IDS = new Set(["head", "heads", "base", "current"]);
/** The version table's column is varchar(32), as in Alembic. */
const MAX_ID_LENGTH = 32;

/**
 * Builds and validates a revision graph the way Alembic's `RevisionMap._revision_map` does:
 * links parents and children, resolves `depends_on`, propagates branch labels and rejects
 * duplicate ids, bad ids, missing down revisions and cycles with typed errors.
 *
 * The input order is kept as the tie-breaker for ordering siblings, as Alembic does with its
 * ordered map: pass revisions sorted (e.g. by file name) for deterministic plans.
 */
export function buildRevisionGraph<T extends RevisionSpec>(specs: readonly T[]): RevisionGraph<T> {
  const map = new Map<string, RevisionNode<T>>();
  const order: string[] = [];
  for (const spec of specs) {
    validateId(spec.id, spec);
    if (map.has(spec.id)) {
      throw new FleetwayError(
        ErrorCode.DUPLICATE_REVISION,
        `Revision ${spec.id} is present more than once`,
        { revision: spec.id, ...locationOf(spec) },
      );
    }
    map.set(spec.id, createNode(spec));
    order.push(spec.id);
  }

  const labels = mapBranchLabels(map, order);
  const lookup = (key: string): RevisionNode<T> | undefined => map.get(key) ?? labels.get(key);
  resolveDependencies(map, lookup);
  linkChildren(map, order);
  normalizeDependencies(map, order);

  const nodes = order.map((id) => mustGet(map, id));
  const heads = nodes.filter((n) => n.nextRevisions.size === 0).map((n) => n.id);
  const realHeads = nodes.filter((n) => n.allNextRevisions.size === 0).map((n) => n.id);
  const bases = nodes.filter((n) => n.downRevisions.length === 0).map((n) => n.id);
  const realBases = nodes
    .filter((n) => n.downRevisions.length === 0 && n.resolvedDependencies.length === 0)
    .map((n) => n.id);

  detectCycles(
    map,
    heads,
    bases,
    (n) => n.downRevisions,
    (n) => n.nextRevisions,
  );
  detectCycles(map, realHeads, realBases, allDownRevisions, (n) => n.allNextRevisions);
  propagateBranchLabels(map, order);

  return new RevisionGraph<T>({ map, labels, order, heads, realHeads, bases, realBases });
}

function validateId(id: string, spec: RevisionSpec): void {
  let reason: string | null = null;
  if (id.length === 0) reason = "it is empty";
  else if (id.length > MAX_ID_LENGTH) reason = `it is longer than ${MAX_ID_LENGTH} characters`;
  else if (FORBIDDEN_ID_CHARACTERS.test(id))
    reason = "it contains one of the characters @ - + : , or whitespace";
  else if (RESERVED_IDS.has(id)) reason = `'${id}' is a reserved word`;
  if (reason !== null) {
    throw new FleetwayError(
      ErrorCode.INVALID_REVISION_ID,
      `Invalid revision id '${id}': ${reason}`,
      { revision: id, reason, ...locationOf(spec) },
    );
  }
}

function locationOf(spec: RevisionSpec): { path?: string } {
  const path = (spec as { path?: unknown }).path;
  return typeof path === "string" ? { path } : {};
}

function createNode<T extends RevisionSpec>(spec: T): RevisionNode<T> {
  return {
    id: spec.id,
    spec,
    downRevisions: [...new Set(spec.downRevisions)],
    resolvedDependencies: [],
    normalizedDependencies: [],
    nextRevisions: new Set(),
    allNextRevisions: new Set(),
    ownBranchLabels: [...(spec.branchLabels ?? [])],
    branchLabels: new Set(spec.branchLabels ?? []),
  };
}

function mustGet<T extends RevisionSpec>(
  map: Map<string, RevisionNode<T>>,
  id: string,
): RevisionNode<T> {
  const node = map.get(id);
  if (node === undefined) throw new Error(`graph invariant: ${id} missing`);
  return node;
}

function mapBranchLabels<T extends RevisionSpec>(
  map: Map<string, RevisionNode<T>>,
  order: readonly string[],
): Map<string, RevisionNode<T>> {
  const labels = new Map<string, RevisionNode<T>>();
  for (const id of order) {
    const node = mustGet(map, id);
    for (const label of node.ownBranchLabels) {
      const holder = labels.get(label) ?? map.get(label);
      if (holder !== undefined) {
        throw new FleetwayError(
          ErrorCode.DUPLICATE_BRANCH_LABEL,
          `Branch name '${label}' in revision ${id} already used by revision ${holder.id}`,
          { label, revision: id, usedBy: holder.id },
        );
      }
      labels.set(label, node);
    }
  }
  return labels;
}

function resolveDependencies<T extends RevisionSpec>(
  map: Map<string, RevisionNode<T>>,
  lookup: (key: string) => RevisionNode<T> | undefined,
): void {
  for (const node of map.values()) {
    node.resolvedDependencies = [
      ...new Set(
        (node.spec.dependsOn ?? []).map((dep) => {
          const target = lookup(dep);
          if (target === undefined) {
            throw new FleetwayError(
              ErrorCode.MISSING_DOWN_REVISION,
              `Dependency ${dep} referenced from ${node.id} is not present`,
              { revision: node.id, missing: dep, ...locationOf(node.spec) },
            );
          }
          return target.id;
        }),
      ),
    ];
  }
}

function linkChildren<T extends RevisionSpec>(
  map: Map<string, RevisionNode<T>>,
  order: readonly string[],
): void {
  for (const id of order) {
    const node = mustGet(map, id);
    for (const down of allDownRevisions(node)) {
      const parent = map.get(down);
      if (parent === undefined) {
        throw new FleetwayError(
          ErrorCode.MISSING_DOWN_REVISION,
          `Revision ${down} referenced from ${id} is not present`,
          { revision: id, missing: down, ...locationOf(node.spec) },
        );
      }
      parent.allNextRevisions.add(id);
      if (node.downRevisions.includes(down)) parent.nextRevisions.add(id);
    }
  }
}

/** Drops dependencies that an ancestor already depends on (`_normalize_depends_on`). */
function normalizeDependencies<T extends RevisionSpec>(
  map: Map<string, RevisionNode<T>>,
  order: readonly string[],
): void {
  for (const id of order) {
    const node = mustGet(map, id);
    if (node.resolvedDependencies.length === 0) continue;
    const normalized = new Set(node.resolvedDependencies);
    const seen = new Set<string>();
    const todo = [...node.downRevisions];
    while (todo.length > 0) {
      const ancestorId = todo.pop() as string;
      if (seen.has(ancestorId)) continue;
      seen.add(ancestorId);
      const ancestor = map.get(ancestorId);
      if (ancestor === undefined) continue;
      for (const dep of ancestor.resolvedDependencies) normalized.delete(dep);
      todo.push(...ancestor.downRevisions);
    }
    node.normalizedDependencies = [...normalized];
  }
}

/**
 * Alembic's `_detect_cycles`: every revision must be reachable both downwards from a head and
 * upwards from a base; whatever is not sits on a cycle.
 */
function detectCycles<T extends RevisionSpec>(
  map: Map<string, RevisionNode<T>>,
  heads: readonly string[],
  bases: readonly string[],
  down: (node: RevisionNode<T>) => Iterable<string>,
  up: (node: RevisionNode<T>) => Iterable<string>,
): void {
  if (map.size === 0) return;
  const fromHeads = reach(map, heads, down);
  const fromBases = reach(map, bases, up);
  const onCycle = [...map.keys()].filter((id) => !fromHeads.has(id) || !fromBases.has(id)).sort();
  if (onCycle.length > 0) {
    throw new FleetwayError(
      ErrorCode.REVISION_CYCLE,
      `Cycle is detected in revisions (${onCycle.join(", ")})`,
      { revisions: onCycle },
    );
  }
}

function reach<T extends RevisionSpec>(
  map: Map<string, RevisionNode<T>>,
  start: readonly string[],
  next: (node: RevisionNode<T>) => Iterable<string>,
): Set<string> {
  const seen = new Set<string>();
  const todo = [...start];
  while (todo.length > 0) {
    const id = todo.pop() as string;
    if (seen.has(id)) continue;
    seen.add(id);
    const node = map.get(id);
    if (node !== undefined) todo.push(...next(node));
  }
  return seen;
}

/**
 * Alembic's `_add_branches`: a label belongs to its revision, every descendant of it, and the
 * ancestors below it down to the nearest branch point or merge point.
 */
function propagateBranchLabels<T extends RevisionSpec>(
  map: Map<string, RevisionNode<T>>,
  order: readonly string[],
): void {
  for (const id of order) {
    const node = mustGet(map, id);
    if (node.ownBranchLabels.length === 0) continue;
    for (const descendantId of reach(map, [id], (n) => n.nextRevisions)) {
      const descendant = mustGet(map, descendantId);
      for (const label of node.ownBranchLabels) descendant.branchLabels.add(label);
    }
    let parent: RevisionNode<T> | undefined = node;
    while (parent !== undefined && !isRealBranchPoint(parent) && !isMergePoint(parent)) {
      for (const label of node.ownBranchLabels) parent.branchLabels.add(label);
      const down: string | undefined = parent.downRevisions[0];
      parent = down === undefined ? undefined : map.get(down);
    }
  }
}
