import { ErrorCode, FleetwayError } from "../errors.js";
import type { RevisionSpec } from "../script/revision-script.js";
import { allDownRevisions, normalizedDownRevisions, type RevisionNode } from "./revision-node.js";

interface GraphParts<T extends RevisionSpec> {
  readonly map: ReadonlyMap<string, RevisionNode<T>>;
  readonly labels: ReadonlyMap<string, RevisionNode<T>>;
  readonly order: readonly string[];
  readonly heads: readonly string[];
  readonly realHeads: readonly string[];
  readonly bases: readonly string[];
  readonly realBases: readonly string[];
}

/** A revision, or `null` for "base" (the empty database). */
export type NodeOrBase<T extends RevisionSpec = RevisionSpec> = RevisionNode<T> | null;

/**
 * The validated revision graph: Alembic's `RevisionMap` with its lookups (full ids, unique
 * prefixes, branch labels, `head`/`heads`/`base`) and traversals. Build one with
 * `buildRevisionGraph`. Immutable once built.
 */
export class RevisionGraph<T extends RevisionSpec = RevisionSpec> {
  /** Heads through `down_revision` links (what `head` must resolve to a single one of). */
  readonly heads: readonly string[];
  /** Revisions nothing depends on, through `down_revision` or `depends_on` (what `heads` means). */
  readonly realHeads: readonly string[];
  /** Revisions without a `down_revision`. */
  readonly bases: readonly string[];
  readonly realBases: readonly string[];
  private readonly map: ReadonlyMap<string, RevisionNode<T>>;
  private readonly labels: ReadonlyMap<string, RevisionNode<T>>;
  private readonly order: readonly string[];
  private readonly orderIndex: ReadonlyMap<string, number>;

  constructor(parts: GraphParts<T>) {
    this.map = parts.map;
    this.labels = parts.labels;
    this.order = parts.order;
    this.orderIndex = new Map(parts.order.map((id, index) => [id, index]));
    this.heads = parts.heads;
    this.realHeads = parts.realHeads;
    this.bases = parts.bases;
    this.realBases = parts.realBases;
  }

  /** Every revision in load order. */
  get revisions(): T[] {
    return this.order.map((id) => this.node(id).spec);
  }

  get size(): number {
    return this.order.length;
  }

  /** All branch labels and the revision that declares each. */
  get branchLabels(): ReadonlyMap<string, string> {
    return new Map([...this.labels].map(([label, node]) => [label, node.id]));
  }

  has(id: string): boolean {
    return this.map.has(id);
  }

  /** The node of a full revision id; throws UNKNOWN_REVISION otherwise. */
  node(id: string): RevisionNode<T> {
    const node = this.map.get(id);
    if (node === undefined) {
      throw new FleetwayError(
        ErrorCode.UNKNOWN_REVISION,
        `Can't locate revision identified by '${id}'`,
        {
          argument: id,
        },
      );
    }
    return node;
  }

  /** The loaded revision of a full id. */
  get(id: string): T {
    return this.node(id).spec;
  }

  /** Position in load order: the tie-breaker that keeps plans deterministic. */
  indexOf(id: string): number {
    return this.orderIndex.get(id) ?? Number.MAX_SAFE_INTEGER;
  }

  /**
   * Ancestors of `targets` (themselves included), through `down_revision` and, by default,
   * `depends_on`. With `check`, a target that is an ancestor of another target is an error,
   * as in Alembic ("Requested revision X overlaps with other requested revisions Y").
   */
  ancestors(
    targets: Iterable<RevisionNode<T>>,
    options: { includeDependencies?: boolean; check?: boolean } = {},
  ): RevisionNode<T>[] {
    const step = options.includeDependencies === false ? down : normalizedDownRevisions;
    return this.iterateRelated(step, targets, options.check ?? false);
  }

  /** Descendants of `targets` (themselves included). */
  descendants(
    targets: Iterable<RevisionNode<T>>,
    options: { includeDependencies?: boolean; check?: boolean } = {},
  ): RevisionNode<T>[] {
    const step =
      options.includeDependencies === false
        ? (n: RevisionNode<T>) => n.nextRevisions
        : (n: RevisionNode<T>) => n.allNextRevisions;
    return this.iterateRelated(step, targets, options.check ?? false);
  }

  /** Every revision id implied by a set of current heads (they included). */
  appliedRevisions(heads: readonly string[]): string[] {
    return this.ancestors(heads.map((h) => this.node(h))).map((n) => n.id);
  }

  /** Alembic's `_iterate_related_revisions`: depth-first, each node once. */
  private iterateRelated(
    step: (node: RevisionNode<T>) => Iterable<string>,
    targets: Iterable<RevisionNode<T>>,
    check: boolean,
  ): RevisionNode<T>[] {
    const targetList = [...targets];
    const seen = new Set<string>();
    const out: RevisionNode<T>[] = [];
    for (const target of targetList) {
      const todo = [target];
      const perTarget = new Set<string>();
      while (todo.length > 0) {
        const rev = todo.pop() as RevisionNode<T>;
        perTarget.add(rev.id);
        if (seen.has(rev.id)) continue;
        seen.add(rev.id);
        for (const id of step(rev)) todo.push(this.node(id));
        out.push(rev);
      }
      if (check) {
        const overlaps = targetList.filter((t) => t !== target && perTarget.has(t.id));
        if (overlaps.length > 0) {
          throw new FleetwayError(
            ErrorCode.INVALID_TARGET,
            `Requested revision ${target.id} overlaps with other requested revisions ${overlaps
              .map((o) => o.id)
              .join(", ")}`,
            { revision: target.id, overlaps: overlaps.map((o) => o.id) },
          );
        }
      }
    }
    return out;
  }

  /** The single head (optionally within a branch); MULTIPLE_HEADS when there are several. */
  currentHead(branchLabel: string | null = null): string | null {
    const heads =
      branchLabel === null ? this.heads : this.filterForLineage(this.heads, branchLabel);
    if (heads.length > 1) {
      throw multipleHeads(heads, branchLabel === null ? "head" : `${branchLabel}@head`);
    }
    return heads[0] ?? null;
  }

  /**
   * Alembic's `_resolve_revision_number`: splits `label@symbol` and expands `head`, `heads`
   * and `base` into revision ids (base is the empty list).
   */
  resolveRevisionNumber(identifier: string | readonly string[] | null): {
    ids: string[];
    branchLabel: string | null;
  } {
    let branchLabel: string | null = null;
    let symbol: string | readonly string[] | null = identifier;
    if (typeof identifier === "string" && identifier.includes("@")) {
      const at = identifier.indexOf("@");
      branchLabel = identifier.slice(0, at);
      symbol = identifier.slice(at + 1);
    }
    if (symbol === "heads") {
      const ids =
        branchLabel !== null ? this.filterForLineage(this.heads, branchLabel) : this.realHeads;
      return { ids: [...ids], branchLabel };
    }
    if (symbol === "head") {
      const head = this.currentHead(branchLabel);
      return { ids: head === null ? [] : [head], branchLabel };
    }
    if (symbol === "base" || symbol === null || symbol === "") return { ids: [], branchLabel };
    return { ids: typeof symbol === "string" ? [symbol] : [...symbol], branchLabel };
  }

  /** Alembic's `get_revisions`: every revision an identifier (or list of them) names. */
  getRevisions(identifier: string | readonly string[] | null): RevisionNode<T>[] {
    if (Array.isArray(identifier)) {
      return (identifier as readonly string[]).flatMap((id) => this.getRevisions(id));
    }
    const { ids, branchLabel } = this.resolveRevisionNumber(identifier);
    return ids
      .map((id) => this.revisionForIdent(id, branchLabel))
      .filter((n): n is RevisionNode<T> => n !== null);
  }

  /** Alembic's `get_revision`: exactly one revision, or null for base. */
  getRevision(identifier: string | null): NodeOrBase<T> {
    const { ids, branchLabel } = this.resolveRevisionNumber(identifier);
    if (ids.length > 1) throw multipleHeads(ids, identifier ?? "base");
    const [id] = ids;
    return id === undefined ? null : this.revisionForIdent(id, branchLabel);
  }

  /** A branch label, or failing that any revision identifier, as a node. */
  resolveBranch(branchLabel: string): RevisionNode<T> {
    const labelled = this.labels.get(branchLabel) ?? this.map.get(branchLabel);
    if (labelled !== undefined) return labelled;
    try {
      const node = this.revisionForIdent(branchLabel);
      if (node !== null) return node;
    } catch (error) {
      throw new FleetwayError(
        ErrorCode.UNKNOWN_REVISION,
        `No such branch: '${branchLabel}'`,
        { argument: branchLabel },
        { cause: error },
      );
    }
    throw new FleetwayError(ErrorCode.UNKNOWN_REVISION, `No such branch: '${branchLabel}'`, {
      argument: branchLabel,
    });
  }

  /** Alembic's `_revision_for_ident`: full id, branch label or unique prefix. */
  revisionForIdent(identifier: string | null, checkBranch: string | null = null): NodeOrBase<T> {
    if (identifier === null || identifier === "") return null;
    const branchRev = checkBranch ? this.resolveBranch(checkBranch) : null;
    let revision = this.map.get(identifier) ?? this.labels.get(identifier) ?? null;
    if (revision === null) {
      let candidates = this.prefixMatches(identifier);
      if (branchRev !== null && checkBranch !== null) {
        candidates = candidates.filter((c) => this.sharesLineage(c, [checkBranch]));
      }
      if (candidates.length === 0) {
        const hint =
          identifier.length < 4
            ? "; please ensure at least four characters are present for partial revision identifier matches"
            : "";
        throw new FleetwayError(
          ErrorCode.UNKNOWN_REVISION,
          `Can't locate revision identified by '${identifier}'${hint}`,
          { argument: identifier },
        );
      }
      if (candidates.length > 1) {
        const shown = candidates.slice(0, 3).map((c) => `'${c.id}'`);
        throw new FleetwayError(
          ErrorCode.AMBIGUOUS_REVISION,
          `Multiple revisions start with '${identifier}': ${shown.join(", ")}...`,
          { argument: identifier, candidates: candidates.map((c) => c.id) },
        );
      }
      revision = candidates[0] ?? null;
    }
    if (revision !== null && branchRev !== null && !this.sharesLineage(revision, [branchRev])) {
      throw new FleetwayError(
        ErrorCode.INVALID_TARGET,
        `Revision ${revision.id} is not a member of branch '${String(checkBranch)}'`,
        { revision: revision.id, branch: checkBranch },
      );
    }
    return revision;
  }

  private prefixMatches(prefix: string): RevisionNode<T>[] {
    const found = new Map<string, RevisionNode<T>>();
    for (const [key, node] of [...this.map, ...this.labels]) {
      if (key.length > 3 && key.startsWith(prefix)) found.set(node.id, node);
    }
    return [...found.values()];
  }

  /** Keeps the targets that share lineage (ancestor or descendant) with `checkAgainst`. */
  filterForLineage<X extends string | RevisionNode<T>>(
    targets: Iterable<X>,
    checkAgainst: string | null,
    includeDependencies = false,
  ): X[] {
    const { ids, branchLabel } = this.resolveRevisionNumber(checkAgainst);
    const shares = [...(branchLabel !== null ? [branchLabel] : []), ...ids];
    return [...targets].filter((t) => this.sharesLineage(t, shares, includeDependencies));
  }

  /** True when `target` is an ancestor or descendant of any of `against`. */
  sharesLineage(
    target: string | RevisionNode<T>,
    against: readonly (string | RevisionNode<T>)[],
    includeDependencies = false,
  ): boolean {
    if (against.length === 0) return true;
    const resolved = typeof target === "string" ? this.revisionForIdent(target) : target;
    if (resolved === null) return false;
    const wanted = new Set(
      against
        .map((a) => (typeof a === "string" ? this.revisionForIdent(a) : a))
        .filter((n): n is RevisionNode<T> => n !== null)
        .map((n) => n.id),
    );
    const related = [
      ...this.descendants([resolved], { includeDependencies }),
      ...this.ancestors([resolved], { includeDependencies }),
    ];
    return related.some((n) => wanted.has(n.id));
  }

  /** Of a set of revisions, those that no other member descends from (`_filter_into_branch_heads`). */
  filterIntoBranchHeads(targets: Iterable<RevisionNode<T>>): RevisionNode<T>[] {
    const set = new Map([...targets].map((t) => [t.id, t]));
    for (const rev of [...set.values()]) {
      const below = this.descendants([rev], { includeDependencies: false });
      if (below.some((d) => d.id !== rev.id && set.has(d.id))) set.delete(rev.id);
    }
    return [...set.values()];
  }

  /** The current heads plus what they imply, narrowed to branch tips (`_get_all_current`). */
  allCurrent(ids: readonly string[]): RevisionNode<T>[] {
    const top = this.getRevisions(ids);
    return this.filterIntoBranchHeads([...top, ...this.ancestors(top)]);
  }

  /** Parents through `down_revision` and every dependency. */
  allDown(node: RevisionNode<T>): string[] {
    return allDownRevisions(node);
  }
}

function down(node: RevisionNode): readonly string[] {
  return node.downRevisions;
}

/** Alembic's MultipleHeads, with its command-level message. */
export function multipleHeads(heads: readonly string[], argument: string): FleetwayError {
  return new FleetwayError(
    ErrorCode.MULTIPLE_HEADS,
    `Multiple head revisions are present for given argument '${argument}'; please specify a ` +
      `specific target revision, '<branchname>@${argument}' to narrow to a specific head, ` +
      `or 'heads' for all heads`,
    { heads: [...heads], argument },
  );
}
