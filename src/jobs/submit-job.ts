import type pg from "pg";
import type { Logger } from "pino";
import type { Migrations } from "../engine/load-migrations.js";
import type { Operation } from "../engine/plan/migration-plan.js";
import type { TransactionMode } from "../engine/runner/run-options.js";
import { inTransaction } from "../control/control-db.js";
import { appendJobEvent } from "../control/job-event-store.js";
import type { JobRecord } from "../control/job-record.js";
import { insertJob } from "../control/job-store.js";
import { requireTenant } from "../control/tenant-store.js";
import type { Queryable } from "../control/queryable.js";
import { enqueueMigrationJob, type MigrationQueue } from "./migration-queue.js";
import { validateTarget } from "./validate-target.js";

export interface JobRequest {
  readonly tenantId: string;
  readonly operation: Operation;
  readonly target: string;
  readonly transactionMode?: TransactionMode | undefined;
  readonly lockTimeoutMs?: number | undefined;
  readonly statementTimeoutMs?: number | undefined;
  readonly callbackUrl?: string | undefined;
  readonly callbackSecretSealed?: string | undefined;
}

export interface SubmitDeps {
  readonly pool: pg.Pool;
  readonly migrations: Migrations;
  readonly queue: MigrationQueue;
  readonly logger: Logger;
}

/**
 * Records a job (and its `job.queued` event) in the control database, then enqueues its id.
 * The database is the source of truth: if Redis is unavailable the job stays queued there and
 * the reconciler enqueues it later, so the request still succeeds.
 *
 * @throws FleetwayError TENANT_NOT_FOUND, TENANT_BUSY, or the target's own error
 */
export async function submitJob(
  deps: SubmitDeps,
  request: JobRequest,
  db?: Queryable,
): Promise<JobRecord> {
  const create = async (tx: Queryable): Promise<JobRecord> => {
    const tenant = await requireTenant(tx, request.tenantId);
    validateTarget(deps.migrations, request.operation, request.target, tenant.heads);
    const job = await insertJob(tx, {
      tenantId: request.tenantId,
      operation: request.operation,
      target: request.target,
      transactionMode: request.transactionMode ?? "per-revision",
      lockTimeoutMs: request.lockTimeoutMs,
      statementTimeoutMs: request.statementTimeoutMs,
      callbackUrl: request.callbackUrl,
      callbackSecretSealed: request.callbackSecretSealed,
    });
    await appendJobEvent(tx, job.id, "job.queued", {
      operation: job.operation,
      target: job.target,
    });
    return job;
  };
  const job = db === undefined ? await inTransaction(deps.pool, create) : await create(db);
  if (db === undefined) await enqueueAfterCommit(deps, job.id);
  return job;
}

/** Enqueues a committed job; a Redis failure is logged and left to the reconciler. */
export async function enqueueAfterCommit(
  deps: Pick<SubmitDeps, "queue" | "logger">,
  jobId: string,
): Promise<void> {
  try {
    await enqueueMigrationJob(deps.queue, jobId);
  } catch (error) {
    deps.logger.warn({ jobId, err: error }, "could not enqueue the job; the reconciler will");
  }
}
