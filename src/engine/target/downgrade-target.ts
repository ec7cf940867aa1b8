import { ErrorCode, FleetwayError } from "../errors.js";
import type { RevisionGraph } from "../graph/revision-graph.js";
import type { RevisionNode } from "../graph/revision-node.js";
import type { RevisionSpec } from "../script/revision-script.js";
import { parseRelativeTarget, splitBranchTarget } from "./relative-target.js";
import { relativeOutOfRange, type RelativeOptions } from "./upgrade-target.js";
import { walk } from "./walk.js";

export interface DowngradeTarget<T extends RevisionSpec> {
  /** Restricts the downgrade to one branch (`label@rev`, `<rev>@<rev>`, or implied by `-N`). */
  readonly branchLabel: string | null;
  /** The revision to end at; null means base. */
  readonly revision: RevisionNode<T> | null;
}

/**
 * Alembic's `_parse_downgrade_target`: where a downgrade ends, given the current heads.
 * `-N` walks down from the (first) current head along its own branch; `label@-N` from the
 * branch's current head; `<rev>+N`/`<rev>-N` from a named revision; anything else is absolute.
 */
export function resolveDowngradeTarget<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  currentHeads: readonly string[],
  target: string,
  options: RelativeOptions = {},
): DowngradeTarget<T> {
  const noOverwalk = options.noOverwalk ?? true;
  const relative = parseRelativeTarget(target);
  if (relative === null) {
    const { branchLabel, symbol } = splitBranchTarget(target);
    return { branchLabel, revision: graph.getRevision(symbol) };
  }

  let { branchLabel, symbol } = relative;
  const { delta, written } = relative;
  if (delta >= 0) {
    if (symbol === null) throw relativeOutOfRange(written, delta);
    const reached = walk(graph, graph.getRevision(symbol), delta, branchLabel, noOverwalk);
    if (reached === undefined) throw walkedTooFar(target);
    return { branchLabel, revision: reached === "base" ? null : reached };
  }

  const fromCurrent = symbol === null;
  if (fromCurrent) {
    if (branchLabel !== null) {
      symbol = currentHeadOnBranch(graph, currentHeads, branchLabel);
    } else {
      const [first, ...others] = currentHeads;
      if (first === undefined) throw relativeOutOfRange(written, delta);
      if (others.length > 0) {
        // Alembic picks an arbitrary head here and warns that it will stop doing so; a service
        // that runs unattended must not guess which branch to take down.
        throw new FleetwayError(
          ErrorCode.AMBIGUOUS_DOWNGRADE,
          `Downgrade ${written} from multiple current heads is ambiguous; ` +
            `use <branch>@${written} or <revision>${written}`,
          { currentHeads: [...currentHeads], target },
        );
      }
      symbol = first;
      // Restrict the walk (and the downgrade) to the selected head's branch.
      branchLabel = symbol;
    }
  }
  const start = graph.getRevision(branchLabel === null ? symbol : `${branchLabel}@${symbol}`);
  const reached = walk(graph, start, delta, null, noOverwalk);
  if (reached === undefined) {
    if (fromCurrent) throw relativeOutOfRange(written, delta);
    throw walkedTooFar(target);
  }
  return { branchLabel, revision: reached === "base" ? null : reached };
}

function currentHeadOnBranch<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  currentHeads: readonly string[],
  branchLabel: string,
): string | null {
  let onBranch = graph.filterForLineage(currentHeads, branchLabel);
  if (onBranch.length === 0) {
    // Several branches but a single current head: the other branch heads are implied by it.
    onBranch = graph.filterForLineage(graph.allCurrent(currentHeads), branchLabel).map((n) => n.id);
  }
  if (onBranch.length !== 1) {
    throw new FleetwayError(
      ErrorCode.NOT_A_VALID_TARGET,
      `Branch '${branchLabel}' has ${onBranch.length === 0 ? "no" : "several"} current heads`,
      { branch: branchLabel, currentHeads: [...currentHeads] },
    );
  }
  return onBranch[0] ?? null;
}

function walkedTooFar(target: string): FleetwayError {
  return new FleetwayError(
    ErrorCode.RELATIVE_OUT_OF_RANGE,
    `Walked too far resolving '${target}'`,
    {
      argument: target,
    },
  );
}
