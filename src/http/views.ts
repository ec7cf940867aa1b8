import type { JobRecord } from "../control/job-record.js";
import type { TenantRecord } from "../control/tenant-store.js";

/** A tenant as the API shows it: the connection string only ever masked. */
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
    createdAt: tenant.createdAt.toISOString(),
    updatedAt: tenant.updatedAt.toISOString(),
  };
}

/** A job as the API (and later webhooks) show it; secrets and credentials stay out. */
export function jobView(job: JobRecord) {
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
    callbackUrl: job.callbackUrl === null ? null : withoutCredentials(job.callbackUrl),
    rolloutId: job.rolloutId,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    updatedAt: job.updatedAt.toISOString(),
  };
}

/** A URL with any user:password@ removed. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === "" && parsed.password === "") return url;
    parsed.username = "";
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "[invalid url]";
  }
}
