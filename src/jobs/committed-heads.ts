import type { FleetwayError } from "../engine/errors.js";
import { isConnectionError } from "../engine/runner/connect.js";
import type { RunProgressEvent, TransactionMode } from "../engine/runner/run-options.js";

/** What a run that did not succeed left in the tenant's version table, as far as it knows. */
export type HeadsAfterRun =
  /** The run never read the version table (it failed before its plan): nothing to record. */
  | { readonly kind: "not-seen" }
  /** Read under the tenant's lock, then moved by the steps that committed. */
  | { readonly kind: "known"; readonly heads: readonly string[] }
  /** The connection was lost while a COMMIT may have been on its way: it may or may not have landed. */
  | { readonly kind: "unknown" };

/**
 * Follows, from the runner's progress events, which heads a job's run has committed to the
 * tenant's version table: the plan's `fromHeads` (read under the lock), then each succeeded
 * step's `headsAfter` in per-revision mode (each step commits on its own). In `all` mode the
 * steps commit together at the end: a run that failed committed none of them.
 *
 * A failed or cancelled job records these with its outcome, so the control database's mirror of
 * the tenant's heads (which rollouts skip by, and the tenant list and fleet view filter on) never
 * keeps the heads from before a run that moved the tenant and then stopped half-way.
 */
export class CommittedHeads {
  private heads: readonly string[] | null = null;

  constructor(private readonly transactionMode: TransactionMode) {}

  onRunnerEvent(event: RunProgressEvent): void {
    if (event.kind === "planned") this.heads = event.plan.fromHeads;
    else if (event.kind === "step-succeeded" && this.transactionMode === "per-revision")
      this.heads = event.step.headsAfter;
  }

  /**
   * The heads after the run failed (or was cancelled) with `error`. A lost connection leaves
   * them unknown when the step in flight (per-revision) or the run's COMMIT (`all`) was sent
   * with its COMMIT: the server may have committed it before the connection broke.
   */
  afterFailure(error: FleetwayError): HeadsAfterRun {
    if (this.heads === null) return { kind: "not-seen" };
    const commitInDoubt = this.transactionMode === "per-revision" || error.data.commit === true;
    if (commitInDoubt && lostConnection(error)) return { kind: "unknown" };
    return { kind: "known", heads: this.heads };
  }
}

/** Whether the error, or one it wraps, says the tenant connection broke. */
function lostConnection(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && depth < 5; depth++) {
    if (isConnectionError(e)) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}
