import { ErrorCode, isFleetwayError } from "../engine/errors.js";
import type { Migrations } from "../engine/load-migrations.js";
import type { Operation } from "../engine/plan/migration-plan.js";
import { planMigration } from "../engine/plan/plan-migration.js";
import { parseRelativeTarget } from "../engine/target/relative-target.js";
import { resolveUpgradeTargets } from "../engine/target/upgrade-target.js";

/**
 * Errors that depend only on the target and the graph, never on where the tenant is now: these
 * are refused before queueing. The others (a relative step out of range, a destination that is
 * not a valid downgrade from the current heads) can only be judged under the tenant's lock, by
 * the worker, from live heads.
 */
const HEAD_INDEPENDENT: readonly ErrorCode[] = [
  ErrorCode.UNKNOWN_REVISION,
  ErrorCode.AMBIGUOUS_REVISION,
  ErrorCode.MULTIPLE_HEADS,
  ErrorCode.INVALID_TARGET,
];

/**
 * Resolves `target` against the graph from the heads last seen on the tenant (or base) and
 * throws its typed error when the target is wrong whatever the tenant's state.
 */
export function validateTarget(
  migrations: Migrations,
  operation: Operation,
  target: string,
  lastSeenHeads: readonly string[] | null,
): void {
  try {
    if (isAbsoluteUpgrade(operation, target)) {
      // Resolving the target and checking that its revisions do not overlap is all that can be
      // wrong with it: planning from the tenant's heads would also judge them (heads recorded
      // one above the other fail with INVALID_TARGET too), and that is the worker's to do.
      const targets = resolveUpgradeTargets(migrations.graph, [], target);
      migrations.graph.ancestors(targets, { check: true });
      return;
    }
    const heads = (lastSeenHeads ?? []).filter((h) => migrations.graph.has(h));
    planMigration(migrations.graph, { operation, target, purge: false }, heads);
  } catch (error) {
    if (isFleetwayError(error, ...HEAD_INDEPENDENT)) throw error;
  }
}

/**
 * An upgrade to an absolute target (`head`, `heads`, `label@head`, a revision or prefix): it
 * resolves without the tenant's heads, so its validation does not need them. Relative targets,
 * downgrades and stamps resolve from them.
 */
export function isAbsoluteUpgrade(operation: Operation, target: string): boolean {
  return operation === "upgrade" && parseRelativeTarget(target) === null;
}
