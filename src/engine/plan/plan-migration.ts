import { assertNever, ErrorCode, FleetwayError } from "../errors.js";
import type { RevisionGraph } from "../graph/revision-graph.js";
import type { RevisionSpec } from "../script/revision-script.js";
import { collectDowngradeRevisions, collectUpgradeRevisions } from "./collect-revisions.js";
import { applyHeadChange, headChangeForRevision } from "./head-maintainer.js";
import type { Direction, MigrationPlan, Operation, PlanStep } from "./migration-plan.js";
import { collectStampMoves, headChangeForStamp } from "./plan-stamp.js";

export interface PlanRequest {
  readonly operation: Operation;
  /** `head`, `heads`, `base`, an id or prefix, `+N`, `-N`, `label@head`, `<rev>@<rev>`, ... */
  readonly target: string;
  /** For stamp: delete every row first (Alembic's `--purge`). */
  readonly purge?: boolean;
}

/**
 * Plans an upgrade, downgrade or stamp from the given current heads. Pure: no database. The
 * runner calls it under the advisory lock with the heads it just read, so a re-run of a job that
 * already succeeded plans nothing.
 */
export function planMigration<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  request: PlanRequest,
  currentHeads: readonly string[],
): MigrationPlan {
  const fromHeads = [...new Set(currentHeads)].sort();
  const purge = request.purge === true;
  if (purge && request.operation !== "stamp") {
    throw new FleetwayError(ErrorCode.USAGE_ERROR, "Only stamp can purge the version table", {
      operation: request.operation,
    });
  }
  // Alembic's `stamp --purge` does not read the heads it erases: it is how a version table naming
  // a revision that no longer exists is repaired.
  if (!purge) {
    for (const head of fromHeads) {
      if (!graph.has(head)) {
        throw new FleetwayError(
          ErrorCode.UNKNOWN_APPLIED_REVISION,
          `The database is at revision '${head}', which is not among the loaded revisions ` +
            `(a revision file removed, or a database ahead of this code?)`,
          { revision: head, currentHeads: fromHeads },
        );
      }
    }
  }
  const heads = new Set(purge ? [] : fromHeads);
  const steps =
    request.operation === "stamp"
      ? [...(purge ? purgeSteps(fromHeads) : []), ...stampSteps(graph, heads, request.target)]
      : revisionSteps(graph, heads, request.operation, request.target);
  return {
    operation: request.operation,
    target: request.target,
    fromHeads,
    steps,
    toHeads: [...heads].sort(),
  };
}

/** `stamp --purge`: first a stamp that empties the version table (none when it is empty). */
function purgeSteps(fromHeads: readonly string[]): PlanStep[] {
  if (fromHeads.length === 0) return [];
  return [
    {
      kind: "stamp",
      from: fromHeads,
      to: [],
      direction: "down",
      headChange: { kind: "purge", delete: fromHeads },
      headsAfter: [],
    },
  ];
}

function revisionSteps<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  heads: Set<string>,
  operation: "upgrade" | "downgrade",
  target: string,
): PlanStep[] {
  let direction: Direction;
  let ids: string[];
  switch (operation) {
    case "upgrade":
      direction = "up";
      ids = collectUpgradeRevisions(graph, [...heads], target);
      break;
    case "downgrade":
      direction = "down";
      ids = collectDowngradeRevisions(graph, [...heads], target);
      ensureReversible(graph, ids);
      break;
    default:
      return assertNever(operation, "operation");
  }
  return ids.map((revision) => {
    const headChange = headChangeForRevision(graph, graph.node(revision), direction, heads);
    applyHeadChange(heads, headChange);
    return { kind: "revision", revision, direction, headChange, headsAfter: [...heads].sort() };
  });
}

function stampSteps<T extends RevisionSpec>(
  graph: RevisionGraph<T>,
  heads: Set<string>,
  target: string,
): PlanStep[] {
  const destinations = target
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  return collectStampMoves(graph, [...heads], destinations).map((move) => {
    const headChange = headChangeForStamp(move, heads);
    applyHeadChange(heads, headChange);
    return {
      kind: "stamp",
      from: move.from,
      to: move.to,
      direction: move.direction,
      headChange,
      headsAfter: [...heads].sort(),
    };
  });
}

/** A revision loaded without a downgrade section cannot be undone. */
function ensureReversible<T extends RevisionSpec>(graph: RevisionGraph<T>, ids: string[]): void {
  const irreversible = ids.filter((id) => {
    const spec = graph.get(id) as RevisionSpec & { downgrade?: unknown };
    return "downgrade" in spec && spec.downgrade === null;
  });
  if (irreversible.length > 0) {
    throw new FleetwayError(
      ErrorCode.MISSING_DOWNGRADE,
      `Revision(s) ${irreversible.join(", ")} have no downgrade and cannot be reverted`,
      { revisions: irreversible },
    );
  }
}
