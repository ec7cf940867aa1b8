import type pg from "pg";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { JobEndListener } from "../control/job-end-listener.js";
import type { SecretBox } from "../control/secret-box.js";
import type { Migrations } from "../engine/load-migrations.js";
import type { MigrationQueue } from "../jobs/migration-queue.js";
import type { ProvisionLimits } from "../jobs/provision-tenant.js";
import type { JobEventPublisher } from "../webhooks/job-event-publisher.js";
import type { AddressPolicy } from "../webhooks/ssrf-guard.js";
import type { WebhookQueue } from "../webhooks/webhook-queue.js";
import type { ApiKeyEntry } from "./plugins/api-key-auth.js";

/** What the HTTP app needs, built by the service's composition root (or a test). */
export interface AppDeps {
  readonly pool: pg.Pool;
  readonly migrations: Migrations;
  readonly queue: MigrationQueue;
  readonly secretBox: SecretBox;
  readonly logger: Logger;
  readonly apiKeys: readonly ApiKeyEntry[];
  readonly bodyLimit: number;
  /** Requests per minute per API key (or per IP without one); 0 disables the limit. */
  readonly rateLimitPerMinute: number;
  readonly metricsRegistry: Registry;
  readonly events: JobEventPublisher;
  /** Wakes `GET /v1/jobs/{id}?wait=` requests when their job ends. */
  readonly jobEnds: JobEndListener;
  readonly webhookQueue: WebhookQueue;
  /** Which webhook and callback addresses are allowed (SSRF guard). */
  readonly webhookPolicy: AddressPolicy;
  /** How long a rotated-out subscription secret keeps signing. */
  readonly webhookRotationGraceMs: number;
  /** Admin connection for `provision` and `?drop=true`; null disables them. */
  readonly provisionAdminUrl: string | null;
  /** The limits of provisioning's CREATE and DROP (see provisionLimits). */
  readonly provisionLimits: ProvisionLimits;
  /** The version table in each tenant's schema; the engine's default (fleetway_version) without. */
  readonly versionTable?: string;
  /**
   * lock_timeout and statement_timeout of the live reads of a tenant database (status, history,
   * plan), ms; 0 = none; the engine's default (5 s) without.
   */
  readonly tenantReadTimeoutMs?: number;
  /**
   * Called once a rollout was created, resumed or retried, one of its queued jobs cancelled, or
   * the drop of a tenant it waits for ended (committed), so it advances now instead of at the
   * rollout coordinator's next tick.
   */
  readonly onRolloutRunnable?: (rolloutId: string) => void;
}
