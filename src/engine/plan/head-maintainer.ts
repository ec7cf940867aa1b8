import { ErrorCode, FleetwayError } from "../errors.js";
import type { RevisionGraph } from "../graph/revision-graph.js";
import { normalizedDownRevisions, type RevisionNode } from "../graph/revision-node.js";
import type { RevisionSpec } from "../script/revision-script.js";
import type { Direction, HeadChange } from "./migration-plan.js";

/**
 * Alembic's `HeadMaintainer.update_to_step` for a revision step: decides how running `node` in
 * `direction` changes the version table, given its current rows.
 */
export function headChangeForRevision<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  node: RevisionNode<T>,
  direction: Direction,
  heads: ReadonlySet<string>,
): HeadChange {
  const downs = normalizedDownRevisions(node);
  if (direction === "down") {
    if (heads.has(node.id)) {
      const unmergeTo = unmergeTargets(graph, node, heads);
      if (downs.length === 0 || unmergeTo.length === 0) return { kind: "delete", version: node.id };
      if (downs.length > 1) {
        const to = unmergeTo[unmergeTo.length - 1] as string;
        return { kind: "unmerge", insert: unmergeTo.slice(0, -1), from: node.id, to };
      }
    }
    return { kind: "update", from: node.id, to: scalarDown(node, downs, heads) };
  }
  const presentDowns = downs.filter((d) => heads.has(d));
  if (presentDowns.length === 0) return { kind: "insert", version: node.id };
  if (downs.length > 1 && presentDowns.length > 1) {
    const merged = mergeSources(graph, node, downs, heads);
    const from = merged[merged.length - 1] as string;
    return { kind: "merge", delete: merged.slice(0, -1), from, to: node.id };
  }
  return { kind: "update", from: scalarDown(node, downs, heads), to: node.id };
}

function scalarDown(
  node: RevisionNode,
  downs: readonly string[],
  heads: ReadonlySet<string>,
): string {
  if (downs.length === 1) return downs[0] as string;
  const present = downs.filter((d) => heads.has(d));
  if (present.length !== 1) {
    throw new FleetwayError(
      ErrorCode.VERSION_TABLE_CONFLICT,
      `Can't do an UPDATE for ${node.id} because its down revision is ambiguous`,
      { revision: node.id, heads: [...heads] },
    );
  }
  return present[0] as string;
}

function ancestorIdsOfOthers<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  others: readonly string[],
): Set<string> {
  return new Set(graph.ancestors(graph.getRevisions(others)).map((n) => n.id));
}

/** `merge_branch_idents`: the heads a merge consumes, minus those another head still implies. */
function mergeSources<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  node: RevisionNode<T>,
  downs: readonly string[],
  heads: ReadonlySet<string>,
): string[] {
  const others = [...heads].filter((h) => !downs.includes(h));
  const implied = ancestorIdsOfOthers(graph, others);
  return byGraphOrder(
    graph,
    downs.filter((d) => !implied.has(d)),
  );
}

/** `_unmerge_to_revisions`: the rows a downgraded merge splits back into. */
function unmergeTargets<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  node: RevisionNode<T>,
  heads: ReadonlySet<string>,
): string[] {
  const downs = normalizedDownRevisions(node);
  const others = [...heads].filter((h) => h !== node.id);
  let implied: Set<string>;
  if (others.length > 0) {
    implied = ancestorIdsOfOthers(graph, others);
  } else {
    implied = new Set(
      downs.flatMap((to) =>
        graph
          .ancestors([graph.node(to)])
          .map((n) => n.id)
          .filter((id) => id !== to),
      ),
    );
  }
  return byGraphOrder(
    graph,
    downs.filter((d) => !implied.has(d)),
  );
}

/** Alembic leaves these orders to Python's set iteration; we fix them for reproducible plans. */
function byGraphOrder<T extends RevisionSpec>(graph: RevisionGraph<T>, ids: string[]): string[] {
  return [...ids].sort((a, b) => graph.indexOf(a) - graph.indexOf(b));
}

/** Applies a head change to an in-memory set of rows, with the checks the database makes. */
export function applyHeadChange(heads: Set<string>, change: HeadChange): void {
  const remove = (v: string): void => {
    if (!heads.delete(v)) throw conflict(`expected version ${v} to be present`, heads);
  };
  const add = (v: string): void => {
    if (heads.has(v)) throw conflict(`version ${v} is already present`, heads);
    heads.add(v);
  };
  switch (change.kind) {
    case "insert":
      add(change.version);
      return;
    case "delete":
      remove(change.version);
      return;
    case "update":
      remove(change.from);
      add(change.to);
      return;
    case "merge":
      change.delete.forEach(remove);
      remove(change.from);
      add(change.to);
      return;
    case "unmerge":
      change.insert.forEach(add);
      remove(change.from);
      add(change.to);
      return;
    case "purge":
      change.delete.forEach(remove);
      return;
  }
}

function conflict(what: string, heads: ReadonlySet<string>): FleetwayError {
  return new FleetwayError(ErrorCode.VERSION_TABLE_CONFLICT, `Version table conflict: ${what}`, {
    heads: [...heads],
  });
}
