import type { JobStepRecord } from "../control/job-record.js";
import type { MigrationPlan } from "../engine/plan/migration-plan.js";

/**
 * What a job's earlier attempts recorded, for a re-run (BullMQ runs a job again after a worker
 * was killed, or stopped past its grace during a step) to carry the job's record on from.
 */
export interface EarlierAttempts {
  /** The heads the job started from, as recorded with its first plan; null when none was. */
  readonly fromHeads: readonly string[] | null;
  /** The steps as last recorded (their states may lag behind what committed). */
  readonly steps: readonly JobStepRecord[];
  /**
   * Whether an empty plan (nothing left to do) means the earlier attempts applied the plan they
   * recorded: the job then keeps showing that one.
   */
  readonly planApplied: (plan: MigrationPlan) => boolean;
}

/** A job's first attempt: nothing recorded before it. */
export const NO_EARLIER_ATTEMPTS: EarlierAttempts = Object.freeze({
  fromHeads: null,
  steps: [],
  planApplied: () => false,
});

/**
 * The steps earlier attempts applied before this re-run, which it carries on after: the re-run
 * plans from other heads than the job recorded (a step committed before the interruption), and
 * steps of the recorded plan are not in `planned` (the re-run's). Those come first, in their
 * order, as applied (the attempt that committed one may have been stopped before it recorded it),
 * then the re-run's steps. Empty when the re-run starts the job's record afresh: nothing recorded,
 * the same heads as recorded (nothing committed), or nothing of the recorded plan done.
 */
export function stepsAppliedBefore(
  earlier: EarlierAttempts,
  plan: MigrationPlan,
  planned: readonly JobStepRecord[],
): JobStepRecord[] {
  if (earlier.fromHeads === null || sameHeads(earlier.fromHeads, plan.fromHeads)) return [];
  const left = new Set(planned.map(stepKey));
  return earlier.steps.filter((s) => !left.has(stepKey(s))).map(appliedStep);
}

/**
 * A step of an earlier attempt's plan that is not left to do: applied, whatever that attempt
 * managed to record of it (its timings, if they were never written, stay unknown).
 */
export function appliedStep(step: JobStepRecord): JobStepRecord {
  return step.state === "succeeded" ? step : { ...step, state: "succeeded" };
}

function stepKey(step: JobStepRecord): string {
  return `${step.direction} ${step.revision ?? ""}`;
}

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  const sorted = [...b].sort();
  return a.length === b.length && [...a].sort().every((h, i) => h === sorted[i]);
}
