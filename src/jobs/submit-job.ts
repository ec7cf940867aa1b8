import type pg from "pg";
import type { Logger } from "pino";
import { inTransaction } from "../control/control-db.js";
import type { JobRecord } from "../control/job-record.js";
import { insertJob, insertJobUnlessSubscribed, type NewJob } from "../control/job-store.js";
import type { Queryable } from "../control/queryable.js";
import type { SecretBox } from "../control/secret-box.js";
import { requireTenant } from "../control/tenant-store.js";
import type { Migrations } from "../engine/load-migrations.js";
import type { Operation } from "../engine/plan/migration-plan.js";
import type { TransactionMode } from "../engine/runner/run-options.js";
import { withoutCredentials } from "../webhooks/origin-only.js";
import type { JobEventPublisher } from "../webhooks/job-event-publisher.js";
import {
  enqueueMigrationJob,
  enqueueMigrationJobs,
  type MigrationQueue,
} from "./migration-queue.js";
import { isAbsoluteUpgrade, validateTarget } from "./validate-target.js";

export interface JobRequest {
  readonly tenantId: string;
  readonly operation: Operation;
  readonly target: string;
  readonly transactionMode?: TransactionMode | undefined;
  readonly lockTimeoutMs?: number | undefined;
  readonly statementTimeoutMs?: number | undefined;
  /** Already checked against the SSRF guard by the caller. */
  readonly callbackUrl?: string | undefined;
  readonly callbackSecret?: string | undefined;
  readonly rolloutId?: string | undefined;
}

export interface SubmitDeps {
  readonly pool: pg.Pool;
  readonly migrations: Migrations;
  readonly queue: MigrationQueue;
  readonly logger: Logger;
  readonly secretBox: SecretBox;
  readonly events: JobEventPublisher;
}

/** A job recorded in a transaction, with what to hand to the queues once it commits. */
export interface CreatedJob {
  readonly job: JobRecord;
  readonly deliveryIds: readonly string[];
}

/**
 * Records a job and its `job.queued` event (and that event's webhook deliveries) in `tx`.
 * `known`: the tenant's last seen heads, when the caller has just read its row in `tx` and so
 * knows it exists (the tenant is then not read again; one deleted since is TENANT_NOT_FOUND from
 * the job's insert, which leaves `tx` usable).
 *
 * @throws FleetwayError TENANT_NOT_FOUND, TENANT_BUSY, TENANT_DELETING (its database or schema
 *   is being dropped), or the target's own error
 */
export async function createJob(
  deps: SubmitDeps,
  tx: Queryable,
  request: JobRequest,
  known?: { readonly heads: readonly string[] | null },
): Promise<CreatedJob> {
  const heads =
    known !== undefined ? known.heads : (await requireTenant(tx, request.tenantId)).heads;
  validateTarget(deps.migrations, request.operation, request.target, heads);
  const { job, queued } = await insertJob(tx, newJob(deps, request), queuedData(request));
  const deliveryIds = await deps.events.recordDeliveries(tx, job.id, [queued], {
    hasCallback: job.callbackUrlSealed !== null,
  });
  return { job, deliveryIds };
}

/** The job row a request asks for, its callback URL and secret sealed. */
function newJob(deps: Pick<SubmitDeps, "secretBox">, request: JobRequest): NewJob {
  return {
    tenantId: request.tenantId,
    operation: request.operation,
    target: request.target,
    transactionMode: request.transactionMode ?? "per-revision",
    lockTimeoutMs: request.lockTimeoutMs,
    statementTimeoutMs: request.statementTimeoutMs,
    callbackUrl:
      request.callbackUrl === undefined ? undefined : withoutCredentials(request.callbackUrl),
    callbackUrlSealed:
      request.callbackUrl === undefined ? undefined : deps.secretBox.encrypt(request.callbackUrl),
    rolloutId: request.rolloutId,
    callbackSecretSealed:
      request.callbackSecret === undefined
        ? undefined
        : deps.secretBox.encrypt(request.callbackSecret),
  };
}

/** What `job.queued` records of the request. */
function queuedData(request: JobRequest): Record<string, unknown> {
  return { operation: request.operation, target: request.target };
}

/**
 * Enqueues a committed job and its deliveries. The database is the source of truth: if Redis is
 * unavailable the job stays queued there and the reconciler enqueues it later.
 */
export async function afterJobCommitted(
  deps: Pick<SubmitDeps, "queue" | "logger" | "events">,
  created: CreatedJob,
): Promise<void> {
  try {
    await enqueueMigrationJob(deps.queue, created.job.id);
  } catch (error) {
    deps.logger.warn(
      { jobId: created.job.id, err: error },
      "could not enqueue the job; the reconciler will",
    );
  }
  await deps.events.enqueue(created.deliveryIds);
}

/** {@link afterJobCommitted} for many jobs at once, with BullMQ's addBulk. */
export async function afterJobsCommitted(
  deps: Pick<SubmitDeps, "queue" | "logger" | "events">,
  created: readonly CreatedJob[],
): Promise<void> {
  if (created.length === 0) return;
  try {
    await enqueueMigrationJobs(
      deps.queue,
      created.map((c) => c.job.id),
    );
  } catch (error) {
    deps.logger.warn(
      { jobs: created.length, err: error },
      "could not enqueue jobs; the reconciler will",
    );
  }
  await deps.events.enqueue(created.flatMap((c) => c.deliveryIds));
}

/**
 * Records and enqueues one job. The common request (an upgrade to an absolute target such as
 * `head`, no callback) is checked without the tenant's heads and recorded in one statement
 * outside a transaction, unless a subscription wants its `job.queued` (see
 * insertJobUnlessSubscribed); everything else reads the tenant and records the job and its
 * deliveries in a transaction.
 */
export async function submitJob(deps: SubmitDeps, request: JobRequest): Promise<JobRecord> {
  if (needsNoTenantRead(request) && targetIsValid(deps.migrations, request)) {
    const job = await insertJobUnlessSubscribed(
      deps.pool,
      newJob(deps, request),
      queuedData(request),
    );
    if (job !== null) {
      await afterJobCommitted(deps, { job, deliveryIds: [] });
      return job;
    }
  }
  // A refused target is refused by this path too, after the tenant's existence (404 first).
  const created = await inTransaction(deps.pool, (tx) => createJob(deps, tx, request));
  await afterJobCommitted(deps, created);
  return created.job;
}

/** Whether validateTarget accepts the request's target (the caller reads no tenant heads). */
function targetIsValid(migrations: Migrations, request: JobRequest): boolean {
  try {
    validateTarget(migrations, request.operation, request.target, null);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the job can be recorded without reading its tenant first: an absolute upgrade's target
 * is validated without the tenant's heads (validateTarget). A callback needs its `job.queued`
 * delivery recorded with the job; a rollout's jobs are created in the coordinator's transaction.
 */
function needsNoTenantRead(request: JobRequest): boolean {
  return (
    isAbsoluteUpgrade(request.operation, request.target) &&
    request.callbackUrl === undefined &&
    request.rolloutId === undefined
  );
}
