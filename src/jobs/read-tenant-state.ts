import type { Queryable } from "../control/queryable.js";
import type { SecretBox } from "../control/secret-box.js";
import { recordTenantHeads, type TenantRecord } from "../control/tenant-store.js";
import { isAtAllHeads } from "../engine/graph/is-at-all-heads.js";
import type { Migrations } from "../engine/load-migrations.js";
import type { MigrationPlan, Operation } from "../engine/plan/migration-plan.js";
import { planMigration } from "../engine/plan/plan-migration.js";
import { renderOfflineSql } from "../engine/plan/render-offline-sql.js";
import {
  findChecksumMismatches,
  readCurrentHeads,
  readHeadsAndAppliedChecksums,
  readHistory,
  type HistoryRow,
  type TenantReadOptions,
} from "../engine/runner/run-migration.js";

/**
 * What reading a tenant database live (status, history, plan) needs: its connection string's
 * key, the version table, and the time limit that keeps a locked table or a silent server from
 * holding the caller.
 */
export interface TenantReadDeps {
  readonly secretBox: SecretBox;
  /** The version table in each tenant's schema; the engine's default (fleetway_version) without. */
  readonly versionTable?: string;
  /** lock_timeout and statement_timeout of each read, ms; 0 = none; the engine's default without. */
  readonly tenantReadTimeoutMs?: number;
}

/** How the reads reach the tenant database: its tables and the time limit. */
function tenantReadOptions(deps: TenantReadDeps, tenant: TenantRecord): TenantReadOptions {
  return {
    connectionString: deps.secretBox.decrypt(tenant.databaseUrlSealed),
    schema: tenant.schema,
    ...(deps.versionTable === undefined ? {} : { versionTable: deps.versionTable }),
    ...(deps.tenantReadTimeoutMs === undefined ? {} : { readTimeoutMs: deps.tenantReadTimeoutMs }),
  };
}

/** A tenant's live state against the migration set. */
export interface TenantStatus {
  readonly heads: string[];
  /**
   * The version table's rows are exactly the heads an upgrade to `heads` leaves: the engine's
   * {@link isAtAllHeads}, as `fleetway current --check-heads` judges it. So an empty database is at
   * head over an empty migration set, and not over any other.
   */
  readonly atHead: boolean;
  /** What an upgrade to `heads` would apply; empty while a head is unknown. */
  readonly pending: string[];
  /** Heads the migration set does not know (a newer deployment ran, or the wrong set). */
  readonly unknownHeads: string[];
  /** Applied revisions whose file changed since: the checksum it ran with and the current one. */
  readonly checksumMismatches: { revision: string; applied: string; current: string }[];
}

/**
 * Reads the tenant's heads and history live (one connection, one time limit), records the heads
 * it saw (see recordTenantHeads), and judges them against the migration set.
 */
export async function readTenantStatus(
  deps: TenantReadDeps & { readonly pool: Queryable; readonly migrations: Migrations },
  tenant: TenantRecord,
): Promise<TenantStatus> {
  const { heads, appliedChecksums } = await readHeadsAndAppliedChecksums(
    tenantReadOptions(deps, tenant),
  );
  await recordTenantHeads(deps.pool, tenant, heads);
  const { graph } = deps.migrations;
  const unknownHeads = heads.filter((h) => !graph.has(h));
  const pending =
    unknownHeads.length > 0
      ? []
      : planMigration(
          graph,
          { operation: "upgrade", target: "heads", purge: false },
          heads,
        ).steps.flatMap((s) => (s.kind === "revision" ? [s.revision] : []));
  const appliedIds = unknownHeads.length > 0 ? [] : graph.appliedRevisions(heads);
  const checksumMismatches = findChecksumMismatches(appliedIds, appliedChecksums, (id) =>
    graph.get(id),
  ).map(({ revision, applied, current }) => ({ revision, applied, current }));
  return {
    heads,
    atHead: isAtAllHeads(graph, heads),
    pending,
    unknownHeads,
    checksumMismatches,
  };
}

/** The tenant's history read live, newest first. */
export async function readTenantHistory(
  deps: TenantReadDeps,
  tenant: TenantRecord,
  page: { limit?: number; beforeId?: number },
): Promise<HistoryRow[]> {
  return readHistory(tenantReadOptions(deps, tenant), page);
}

/**
 * What a job would do to the tenant now, planned from its heads read live, with the SQL it would
 * run (changes nothing).
 */
export async function planForTenant(
  deps: TenantReadDeps & { readonly migrations: Migrations },
  tenant: TenantRecord,
  request: { readonly operation: Operation; readonly target: string },
): Promise<{ plan: MigrationPlan; sql: string }> {
  const heads = await readCurrentHeads(tenantReadOptions(deps, tenant));
  const { graph } = deps.migrations;
  const plan = planMigration(graph, { ...request, purge: false }, heads);
  const sql = renderOfflineSql(plan, graph, {
    schema: tenant.schema,
    ...(deps.versionTable === undefined ? {} : { versionTable: deps.versionTable }),
  });
  return { plan, sql };
}
