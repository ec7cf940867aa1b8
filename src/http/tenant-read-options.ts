import type { TenantRecord } from "../control/tenant-store.js";
import type { TenantReadOptions } from "../engine/runner/run-migration.js";
import type { AppDeps } from "./app-deps.js";

/**
 * How the routes that read a tenant database live (status, history, plan) reach it: its tables,
 * and the time limit that keeps a locked table or a silent server from holding the request.
 */
export function tenantReadOptions(deps: AppDeps, tenant: TenantRecord): TenantReadOptions {
  return {
    connectionString: deps.secretBox.decrypt(tenant.databaseUrlSealed),
    schema: tenant.schema,
    ...(deps.versionTable === undefined ? {} : { versionTable: deps.versionTable }),
    ...(deps.tenantReadTimeoutMs === undefined ? {} : { readTimeoutMs: deps.tenantReadTimeoutMs }),
  };
}
