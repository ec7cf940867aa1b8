// Event payloads carry a job or tenant as the API's GET answers show it (a receiver can compare
// the two), so these are the one definition of both: the routes import them from here.

import type { JobRecord } from "../control/job-record.js";
import type { TenantRecord } from "../control/tenant-store.js";
import { showUrl, type UrlView } from "./origin-only.js";

/** A tenant as the API and `tenant.ready` show it: the connection string only ever masked. */
export function tenantView(tenant: TenantRecord) {
  return {
    id: tenant.id,
    name: tenant.name,
    tags: tenant.tags,
    databaseUrl: tenant.databaseUrlMasked,
    schema: tenant.schema,
    heads: tenant.heads,
    headsSeenAt: tenant.headsSeenAt?.toISOString() ?? null,
    provisioned: tenant.provisioned,
    readyAt: tenant.readyAt?.toISOString() ?? null,
    deletingSince: tenant.deletingSince?.toISOString() ?? null,
    createdAt: tenant.createdAt.toISOString(),
    updatedAt: tenant.updatedAt.toISOString(),
  };
}

/**
 * A job as the API and webhooks show it; secrets and credentials stay out, and the callback URL
 * is shown as `urls` says (the API decides by the caller's scope; event payloads use `origin`).
 */
export function jobView(job: JobRecord, urls: UrlView) {
  return {
    id: job.id,
    tenantId: job.tenantId,
    operation: job.operation,
    target: job.target,
    transactionMode: job.transactionMode,
    lockTimeoutMs: job.lockTimeoutMs,
    statementTimeoutMs: job.statementTimeoutMs,
    state: job.state,
    phase: job.phase,
    fromHeads: job.fromHeads,
    toHeads: job.toHeads,
    progress: {
      stepsDone: job.stepsDone,
      stepsTotal: job.stepsTotal,
      currentRevision: job.currentRevision,
    },
    steps: job.steps,
    error: job.error,
    attempts: job.attempts,
    cancelRequested: job.cancelRequested,
    callbackUrl: showUrl(job.callbackUrl, urls),
    rolloutId: job.rolloutId,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    updatedAt: job.updatedAt.toISOString(),
  };
}
