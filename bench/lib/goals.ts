/**
 * The goals of issue 6, judged on one run's numbers: each benchmark prints whether this run met
 * them, and writes the same to its JSON results, so nobody has to work a ratio out by hand.
 * A verdict is about this run on this machine only (BENCHMARKS.md: machines differ 2-5x).
 */
import { printTable } from "./bench-util.js";

export interface GoalCheck {
  readonly goal: string;
  /** The run's number, as printed (with its unit). */
  readonly measured: string;
  /** Null when this run has nothing to judge by (a contender was left out with --only). */
  readonly met: boolean | null;
}

/** `measured` at most `limit`; NaN (a missing contender) judges nothing. */
export function atMost(goal: string, measured: number, limit: number, unit: string): GoalCheck {
  return judged(goal, measured, unit, measured <= limit);
}

/** `measured` at least `limit`; NaN (a missing contender) judges nothing. */
export function atLeast(goal: string, measured: number, limit: number, unit: string): GoalCheck {
  return judged(goal, measured, unit, measured >= limit);
}

function judged(goal: string, measured: number, unit: string, met: boolean): GoalCheck {
  if (!Number.isFinite(measured)) return { goal, measured: "n/a", met: null };
  const digits = Math.abs(measured) >= 100 ? 0 : 2;
  return { goal, measured: `${measured.toFixed(digits)}${unit}`, met };
}

export function printGoals(checks: readonly GoalCheck[]): void {
  if (checks.length === 0) return;
  printTable(
    "goals (this run, this machine)",
    checks.map(({ goal, measured, met }) => ({
      goal,
      measured,
      verdict: met === null ? "n/a" : met ? "met" : "NOT met",
    })),
  );
}
