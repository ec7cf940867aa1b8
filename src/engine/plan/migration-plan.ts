/**
 * The output of planning: ordered steps, each with the exact change it makes to the version table.
 * The planner is pure (no database); the runner executes a plan step by step.
 */

/** How one step changes the version table, as Alembic's HeadMaintainer does it. */
export type HeadChange =
  /** A new branch (or a root) appears: INSERT its row. */
  | { readonly kind: "insert"; readonly version: string }
  /** A branch disappears (downgrade to base, or into a revision another head still implies): DELETE. */
  | { readonly kind: "delete"; readonly version: string }
  /** Plain movement along a branch: UPDATE from -> to. */
  | { readonly kind: "update"; readonly from: string; readonly to: string }
  /** A merge revision joins several heads: DELETE all but one, UPDATE the last to the merge. */
  | {
      readonly kind: "merge";
      readonly delete: readonly string[];
      readonly from: string;
      readonly to: string;
    }
  /** Downgrading a merge revision splits it: INSERT all but one, UPDATE the merge to the last. */
  | {
      readonly kind: "unmerge";
      readonly insert: readonly string[];
      readonly from: string;
      readonly to: string;
    }
  /** `stamp --purge` empties the table whatever it holds: DELETE every row read under the lock. */
  | { readonly kind: "purge"; readonly delete: readonly string[] };

export type Direction = "up" | "down";

export type PlanStep =
  /** Run one revision's upgrade or downgrade and apply its head change in the same transaction. */
  | {
      readonly kind: "revision";
      readonly revision: string;
      readonly direction: Direction;
      readonly headChange: HeadChange;
      /** The version table's content after this step. */
      readonly headsAfter: readonly string[];
    }
  /** Move the version table without running anything (`stamp`). */
  | {
      readonly kind: "stamp";
      readonly from: readonly string[];
      readonly to: readonly string[];
      readonly direction: Direction;
      readonly headChange: HeadChange;
      readonly headsAfter: readonly string[];
    };

export type Operation = "upgrade" | "downgrade" | "stamp";

export interface MigrationPlan {
  readonly operation: Operation;
  readonly target: string;
  /** The version table's content before the plan (sorted). */
  readonly fromHeads: readonly string[];
  readonly steps: readonly PlanStep[];
  /** The version table's content after the plan (sorted). */
  readonly toHeads: readonly string[];
}
