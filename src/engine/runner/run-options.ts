import type { FleetwayError } from "../errors.js";
import type { MigrationPlan, Operation, PlanStep } from "../plan/migration-plan.js";
import type { RevisionScript } from "../script/revision-script.js";
import type { TenantConnections } from "./tenant-connections.js";

/** How revisions are grouped into transactions. */
export type TransactionMode = "per-revision" | "all";

/** Where the version and history tables of one tenant live. */
export interface TenantTables {
  readonly connectionString: string;
  /** The tenant's schema: tables live here and it is first on the search_path. Default `public`. */
  readonly schema?: string;
  /** Default `fleetway_version`; `alembic_version` adopts a database Alembic managed. */
  readonly versionTable?: string;
  /** Default `fleetway_history`. */
  readonly historyTable?: string;
}

export interface RunMigrationOptions extends TenantTables {
  readonly operation: Operation;
  /** Makes the plan from the heads read under the lock (the planner is pure). */
  readonly plan: (currentHeads: readonly string[]) => MigrationPlan;
  /** The loaded revision for an id of the plan. */
  readonly scripts: (id: string) => RevisionScript;
  /** Every revision the given heads imply as applied (for checksum verification). */
  readonly appliedRevisions: (heads: readonly string[]) => readonly string[];
  /** Default `per-revision`. */
  readonly transactionMode?: TransactionMode;
  /** `lock_timeout` of every step, ms. Default 10 000; 0 disables it. */
  readonly lockTimeoutMs?: number;
  /** `statement_timeout` of every step, ms. Default 0 (none). */
  readonly statementTimeoutMs?: number;
  /**
   * How often a step is retried that hit its lock_timeout (SQLSTATE 55P03) or was chosen as a
   * deadlock's victim (40P01); in `all` mode, how often the run's whole transaction is (its steps
   * or its COMMIT). Default 5.
   */
  readonly lockTimeoutRetries?: number;
  /** How long to wait for the tenant's advisory lock, ms. Default 60 000. */
  readonly advisoryLockTimeoutMs?: number;
  /** Run even when an applied revision's file changed since it was applied. Default false. */
  readonly allowChecksumMismatch?: boolean;
  /** Recorded in the history table. */
  readonly jobId?: string;
  /** Recorded in the history table (e.g. `cli:alice`, `worker:host-1`). */
  readonly appliedBy?: string;
  /** `application_name` of the runner's connection, shown to whoever waits for the lock. */
  readonly applicationName?: string;
  /**
   * Where the tenant connection comes from: by default a new one, closed after the run. A worker
   * passes pooled connections so that repeated runs on a database do not reconnect each time.
   */
  readonly connections?: TenantConnections;
  /** Cancels the running statement and rolls the step back. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: RunProgressEvent) => void;
  /** Injected in tests: the backoff's sleep and jitter source. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random?: () => number;
}

/** Who holds a tenant's advisory lock, from pg_locks and pg_stat_activity. */
export interface LockHolder {
  readonly pid: number;
  readonly applicationName: string | null;
  readonly clientAddr: string | null;
  /** When the holder's session started. */
  readonly backendStart: string | null;
  /** When the holder's current (or last) query started. */
  readonly queryStart: string | null;
  readonly state: string | null;
}

export type RunProgressEvent =
  | { readonly kind: "lock-waiting"; readonly holder: LockHolder | null }
  | { readonly kind: "lock-acquired"; readonly waitedMs: number }
  | { readonly kind: "planned"; readonly plan: MigrationPlan }
  | {
      readonly kind: "step-started";
      readonly step: PlanStep;
      readonly index: number;
      readonly total: number;
      readonly attempt: number;
    }
  | {
      readonly kind: "step-succeeded";
      readonly step: PlanStep;
      readonly index: number;
      readonly total: number;
      readonly durationMs: number;
    }
  | {
      readonly kind: "step-failed";
      readonly step: PlanStep;
      readonly index: number;
      readonly total: number;
      readonly error: FleetwayError;
    }
  | {
      readonly kind: "step-retrying";
      readonly step: PlanStep;
      readonly index: number;
      /**
       * The index of the step the retry runs first: `index` itself in per-revision mode; 0 in
       * `all` mode, where the steps before `index` were rolled back with it and run again.
       */
      readonly retryFrom: number;
      readonly attempt: number;
      readonly delayMs: number;
      readonly cause: StepRetryCause;
      readonly error: FleetwayError;
    }
  | { readonly kind: "log"; readonly revision: string; readonly message: string };

/**
 * Why a failed step is tried again: PostgreSQL gave up on one of its lock waits, past its
 * lock_timeout (SQLSTATE 55P03) or as the victim of a deadlock (40P01). In `all` mode the whole
 * run is tried again (`step-retrying` names the step it failed in, the last for its COMMIT, and
 * `attempt` counts the run's attempts; `step-started` then comes again from the first step).
 */
export type StepRetryCause = "lock-timeout" | "deadlock";

/** One step that committed. */
export interface StepOutcome {
  readonly step: PlanStep;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly durationMs: number;
  /**
   * 1 unless the step was retried after lock timeouts or deadlocks; in `all` mode, the attempts
   * at the run's transaction (every step ran in each).
   */
  readonly attempts: number;
}

export interface RunResult {
  readonly plan: MigrationPlan;
  readonly fromHeads: readonly string[];
  readonly toHeads: readonly string[];
  readonly steps: readonly StepOutcome[];
}

export const RUN_DEFAULTS = {
  schema: "public",
  versionTable: "fleetway_version",
  historyTable: "fleetway_history",
  transactionMode: "per-revision",
  lockTimeoutMs: 10_000,
  statementTimeoutMs: 0,
  lockTimeoutRetries: 5,
  advisoryLockTimeoutMs: 60_000,
  applicationName: "fleetway",
} as const;
