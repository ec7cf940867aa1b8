import { columnList } from "./column-list.js";
import type { Operation } from "../engine/plan/migration-plan.js";
import type { TransactionMode } from "../engine/runner/run-options.js";

export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];
export const ACTIVE_JOB_STATES: readonly JobState[] = ["queued", "running"];

/** What a running job is doing; null when queued or finished. */
export type JobPhase = "connecting" | "waiting_for_lock" | "migrating" | "retrying";

/** One step of a job as the API shows it. */
export interface JobStepRecord {
  readonly revision: string | null;
  readonly direction: "up" | "down" | "stamp";
  readonly state: "pending" | "running" | "succeeded" | "failed";
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly durationMs: number | null;
  readonly attempts: number;
}

export interface JobRecord {
  readonly id: string;
  readonly seq: number;
  readonly tenantId: string;
  readonly operation: Operation;
  readonly target: string;
  readonly transactionMode: TransactionMode;
  readonly lockTimeoutMs: number | null;
  readonly statementTimeoutMs: number | null;
  readonly state: JobState;
  readonly phase: JobPhase | null;
  readonly fromHeads: string[] | null;
  readonly toHeads: string[] | null;
  readonly stepsDone: number;
  readonly stepsTotal: number | null;
  readonly currentRevision: string | null;
  readonly steps: JobStepRecord[];
  readonly error: Record<string, unknown> | null;
  readonly attempts: number;
  readonly cancelRequested: boolean;
  /** Without any user:password@ (withoutCredentials): views show it as stored. */
  readonly callbackUrl: string | null;
  readonly callbackSecretSealed: string | null;
  /** The callback URL as given (it may hold credentials), sealed; callbackUrl is its masked form. */
  readonly callbackUrlSealed: string | null;
  readonly rolloutId: string | null;
  readonly workerId: string | null;
  readonly heartbeatAt: Date | null;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly updatedAt: Date;
}

export interface JobRow {
  id: string;
  seq: string;
  tenant_id: string;
  operation: Operation;
  target: string;
  transaction_mode: TransactionMode;
  lock_timeout_ms: number | null;
  statement_timeout_ms: number | null;
  state: JobState;
  phase: JobPhase | null;
  from_heads: string[] | null;
  to_heads: string[] | null;
  steps_done: number;
  steps_total: number | null;
  current_revision: string | null;
  steps: JobStepRecord[];
  error: Record<string, unknown> | null;
  attempts: number;
  cancel_requested: boolean;
  callback_url: string | null;
  callback_secret_sealed: string | null;
  callback_url_sealed: string | null;
  rollout_id: string | null;
  worker_id: string | null;
  heartbeat_at: Date | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

const JOB_ROW: Record<keyof JobRow, true> = {
  id: true,
  seq: true,
  tenant_id: true,
  operation: true,
  target: true,
  transaction_mode: true,
  lock_timeout_ms: true,
  statement_timeout_ms: true,
  state: true,
  phase: true,
  from_heads: true,
  to_heads: true,
  steps_done: true,
  steps_total: true,
  current_revision: true,
  steps: true,
  error: true,
  attempts: true,
  cancel_requested: true,
  callback_url: true,
  callback_secret_sealed: true,
  callback_url_sealed: true,
  rollout_id: true,
  worker_id: true,
  heartbeat_at: true,
  created_at: true,
  started_at: true,
  finished_at: true,
  updated_at: true,
};

/** Every column of {@link JobRow}, for SELECT and RETURNING lists; `alias.` before each if given. */
export const jobColumns = (alias?: string): string => columnList<JobRow>(JOB_ROW, alias);

export function toJob(row: JobRow): JobRecord {
  return {
    id: row.id,
    seq: Number(row.seq),
    tenantId: row.tenant_id,
    operation: row.operation,
    target: row.target,
    transactionMode: row.transaction_mode,
    lockTimeoutMs: row.lock_timeout_ms,
    statementTimeoutMs: row.statement_timeout_ms,
    state: row.state,
    phase: row.phase,
    fromHeads: row.from_heads,
    toHeads: row.to_heads,
    stepsDone: row.steps_done,
    stepsTotal: row.steps_total,
    currentRevision: row.current_revision,
    steps: row.steps,
    error: row.error,
    attempts: row.attempts,
    cancelRequested: row.cancel_requested,
    callbackUrl: row.callback_url,
    callbackSecretSealed: row.callback_secret_sealed,
    callbackUrlSealed: row.callback_url_sealed,
    rolloutId: row.rollout_id,
    workerId: row.worker_id,
    heartbeatAt: row.heartbeat_at,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
  };
}
