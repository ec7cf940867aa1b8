import type { JobRecord } from "../control/job-record.js";
import type { TenantRecord } from "../control/tenant-store.js";
import { showUrl, type UrlView } from "../webhooks/origin-only.js";
import { scopeAllows, type Principal, type Scope } from "./plugins/api-key-auth.js";

/**
 * The scope that sets job and rollout callback URLs (POST /v1/tenants/{id}/jobs, /v1/rollouts):
 * keys with it see them whole, others see their origin.
 */
export const CALLBACK_URL_SCOPE: Scope = "write";

/** The scope that creates webhook subscriptions (POST /v1/webhooks), and so sees their URLs. */
export const SUBSCRIPTION_URL_SCOPE: Scope = "admin";

/**
 * How `principal` sees URLs set with scope `owner`: whole if its scope allows `owner`, else as
 * their origin. Receivers put tokens in the path or query string, and a read-only key (a
 * dashboard, a CI status check) must not get what lets it post to them.
 */
export function urlViewFor(principal: Principal | null, owner: Scope): UrlView {
  return principal !== null && scopeAllows(principal.scope, owner) ? "whole" : "origin";
}

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

/**
 * A job as the API and webhooks show it; secrets and credentials stay out, and the callback URL
 * is shown as `urls` says (see {@link urlViewFor}; event payloads use `origin`).
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
    callbackUrl: showUrl(
      job.callbackUrl === null ? null : withoutCredentials(job.callbackUrl),
      urls,
    ),
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
