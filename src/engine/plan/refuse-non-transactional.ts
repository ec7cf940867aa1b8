import { ErrorCode, FleetwayError } from "../errors.js";
import type { RevisionScript } from "../script/revision-script.js";
import type { PlanStep } from "./migration-plan.js";

/**
 * `all` mode runs the whole plan in one transaction, which a `transactional: false` revision
 * (CREATE INDEX CONCURRENTLY) cannot run in: the runner refuses such a plan before running
 * anything, and the offline SQL refuses to render what the runner would refuse.
 */
export function refuseNonTransactionalInAllMode(
  steps: readonly PlanStep[],
  scriptOf: (id: string) => RevisionScript,
): void {
  const offending = steps
    .filter((s) => s.kind === "revision")
    .map((s) => scriptOf(s.revision))
    .filter((script) => !script.transactional);
  if (offending.length === 0) return;
  throw new FleetwayError(
    ErrorCode.NON_TRANSACTIONAL_IN_ALL_MODE,
    `Transaction mode 'all' cannot run non-transactional revisions: ${offending.map((s) => s.id).join(", ")}`,
    { revisions: offending.map((s) => s.id) },
  );
}
