import { ErrorCode, FleetwayError } from "../engine/errors.js";
import type { RevisionGraph } from "../engine/graph/revision-graph.js";
import type { RevisionNode } from "../engine/graph/revision-node.js";
import { topologicalSort } from "../engine/graph/topological-sort.js";
import type { RevisionSpec } from "../engine/script/revision-script.js";
import { resolveDowngradeTarget } from "../engine/target/downgrade-target.js";
import { parseRelativeTarget } from "../engine/target/relative-target.js";
import { resolveUpgradeTargets } from "../engine/target/upgrade-target.js";
import { walk } from "../engine/target/walk.js";

/** One end of a range: an identifier as written, or the database's current heads (`current`). */
type RangeEnd = string | readonly string[];

const CURRENT = "current";

/** The two ends of `history -r start:end`, as written. */
function splitHistoryRange(range: string): { start: string; end: string } {
  const parts = range.trim().split(":");
  if (parts.length !== 2) {
    throw new FleetwayError(
      ErrorCode.USAGE_ERROR,
      `History range requires [start]:[end], [start]:, or :[end]; got '${range}'`,
    );
  }
  const [start = "", end = ""] = parts;
  return { start, end };
}

/** True when the range names `current` at either end, so the database's heads must be read. */
export function historyRangeNeedsCurrent(range: string): boolean {
  const { start, end } = splitHistoryRange(range);
  return start === CURRENT || end === CURRENT;
}

/**
 * `history -r start:end`, as Alembic's `history` command and `walk_revisions(start, end)`: the
 * revisions from `start` (inclusive; empty = `base`) up to `end` (inclusive; empty = `heads`),
 * newest first. `start` must be an ancestor of `end`. Either end may be `current` (the
 * database's heads, `currentHeads`); `end` may be relative to `start` (`ae10:+2`, `base:+1`) and
 * `start` relative to the heads (`-2:`, `label@-1:`). A branch-qualified start (`label@base:`,
 * `label@<rev>:`) keeps only the heads on that branch.
 */
export function historyRange<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  range: string,
  currentHeads: readonly string[] | null = null,
): string[] {
  const { start, end } = splitHistoryRange(range);
  const current = (): readonly string[] => {
    if (currentHeads === null) {
      throw new FleetwayError(
        ErrorCode.USAGE_ERROR,
        "History range 'current' needs the database: pass --database-url or set DATABASE_URL",
      );
    }
    return currentHeads;
  };
  const lower: RangeEnd = start === CURRENT ? current() : start || "base";
  const upper: RangeEnd = end === CURRENT ? current() : end || "heads";
  const written = { start: start || "base", end: end || "heads" };
  return collectRange(graph, lower, upper, written);
}

/**
 * Alembic's `_collect_upgrade_revisions(upper, lower, inclusive=True, implicit_base=False,
 * assert_relative_length=False)` followed by its topological sort.
 */
function collectRange<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  lower: RangeEnd,
  upper: RangeEnd,
  written: { start: string; end: string },
): string[] {
  let targets = upperTargets(graph, lower, upper);
  if (typeof lower === "string" && lower.includes("@")) {
    targets = onNamedBranch(graph, lower, targets);
  }
  const required = byId([...graph.ancestors(targets, { check: true }), ...targets]);

  let lowest = lowerRevisions(graph, lower);
  // `-N` landing exactly on base (`-3:` over three revisions) means from base; Alembic refuses it
  // as "not an ancestor" although `-4:` shows everything.
  if (lowest.length > 0 && lowest.every((rev) => rev === "base")) lowest = [];
  if (lowest.some((rev) => rev !== undefined && (rev === "base" || !required.has(rev.id)))) {
    throw notAlongBranch(written);
  }
  let from: RevisionNode<T>[];
  if (lowest.length > 0 && lowest.some((rev) => rev === undefined)) {
    // `-N` walked past the bottom from the heads: Alembic then counts it down from `end` instead,
    // stopping at base. (It passes `end` as written, so `-10:` over fewer revisions fails there
    // with "Can't locate revision identified by 'heads'"; the resolved ends work for every `end`.)
    const { revision } = resolveDowngradeTarget(
      graph,
      targets.map((n) => n.id),
      lower as string,
      { noOverwalk: false },
    );
    from = revision === null ? [] : [revision];
  } else {
    from = lowest.filter((rev): rev is RevisionNode<T> => rev !== undefined && rev !== "base");
  }

  // Reaching the start only through a depends_on is not "along the same branch" (Alembic's sort
  // fails on it with an assertion).
  const alongBranches = new Set(
    graph.ancestors(targets, { includeDependencies: false }).map((n) => n.id),
  );
  if (from.some((rev) => !alongBranches.has(rev.id))) throw notAlongBranch(written);

  const below = new Set(graph.ancestors(from, { check: true }).map((n) => n.id));
  let needs = [...required.values()].filter((n) => !below.has(n.id));
  needs.push(...from); // the start is part of the range
  if (from.length > 0) {
    const above = new Set(
      graph.descendants(from, { check: true, includeDependencies: false }).map((n) => n.id),
    );
    needs = needs.filter((n) => above.has(n.id));
  }
  return topologicalSort(graph, byId(needs).values(), targets);
}

/** `_parse_upgrade_target(current_revisions=lower, target=upper)`: `+N` counts from `start`. */
function upperTargets<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  lower: RangeEnd,
  upper: RangeEnd,
): RevisionNode<T>[] {
  if (typeof upper !== "string") return graph.getRevisions(upper);
  const relative = parseRelativeTarget(upper);
  const fromLower = relative !== null && relative.symbol === null && relative.delta > 0;
  const startIds = !fromLower
    ? []
    : typeof lower === "string"
      ? graph.getRevisions(lower).map((n) => n.id)
      : lower;
  return resolveUpgradeTargets(graph, startIds, upper, { noOverwalk: false });
}

/**
 * `label@...:` keeps the heads on branch `label` (a revision id standing for its one branch
 * label, as `ae10@base`), so `networking@base:` is the networking branch alone.
 */
function onNamedBranch<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  lower: string,
  targets: RevisionNode<T>[],
): RevisionNode<T>[] {
  let branch = lower.slice(0, lower.indexOf("@"));
  const named = graph.getRevision(branch);
  if (named !== null && named.id === branch) {
    const labels = [...named.branchLabels];
    const [only] = labels;
    if (labels.length !== 1 || only === undefined) {
      throw new FleetwayError(
        ErrorCode.INVALID_TARGET,
        `Revision ${branch} is on ${labels.length === 0 ? "no labelled branch" : `several branches (${labels.join(", ")})`}; ` +
          `write <branch label>@${lower.slice(branch.length + 1)}`,
        { revision: branch, branches: labels },
      );
    }
    branch = only;
  }
  return targets.filter((t) => t.branchLabels.has(branch));
}

/**
 * Alembic's `get_revisions(start)`, which also reads `-N` and `label@-N` as N below each head
 * (of the branch): a revision, "base" when that lands on base, undefined when it walks past it.
 */
function lowerRevisions<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  lower: RangeEnd,
): (RevisionNode<T> | "base" | undefined)[] {
  if (typeof lower !== "string") return graph.getRevisions(lower);
  const { ids, branchLabel } = graph.resolveRevisionNumber(lower);
  const [only] = ids;
  if (ids.length !== 1 || only === undefined || !/^-\d+$/.test(only) || Number(only) === 0) {
    return graph.getRevisions(lower);
  }
  const heads = graph
    .getRevisions("heads")
    .filter((head) => branchLabel === null || head.branchLabels.has(branchLabel));
  return heads.map((head) => walk(graph, head, Number(only)) ?? undefined);
}

function notAlongBranch(written: { start: string; end: string }): FleetwayError {
  return new FleetwayError(
    ErrorCode.NOT_A_VALID_TARGET,
    `Requested range ${written.start}:${written.end} does not refer to ancestor/descendant revisions along the same branch`,
    written,
  );
}

function byId<T extends RevisionSpec>(nodes: RevisionNode<T>[]): Map<string, RevisionNode<T>> {
  return new Map(nodes.map((n) => [n.id, n]));
}
