import type pg from "pg";
import { inTransaction } from "../control/control-db.js";
import type { SecretBox } from "../control/secret-box.js";
import {
  deleteLockedTenant,
  lockTenantForDeletion,
  requireNoActiveJob,
  type Provisioned,
} from "../control/tenant-store.js";
import { ErrorCode, FleetwayError } from "../engine/errors.js";
import { dropProvisioned, provisionLimits } from "./provision-tenant.js";

/** What dropping a tenant needs: the control pool, the key of its connection string, the admin. */
export interface DropTenantDeps {
  readonly pool: pg.Pool;
  readonly secretBox: SecretBox;
  /** Admin connection that drops a provisioned database; null disables that. */
  readonly provisionAdminUrl: string | null;
  /** lock_timeout of the DROP, ms (FLEETWAY_LOCK_TIMEOUT_MS); the engine's default without. */
  readonly provisionLockTimeoutMs?: number;
}

/**
 * Drops what Fleetway provisioned for a tenant (its database or schema, and only while it
 * carries the tenant's mark: dropProvisioned), then deletes the tenant; refused while a job is
 * active, as any delete.
 *
 * The tenant is deleted only once the drop succeeded, so a database or schema Fleetway still has
 * to drop is never forgotten: its row is locked for deletion (lockTenantForDeletion) before the
 * drop and deleted after it, in one control transaction. A drop that fails (a lock held past
 * FLEETWAY_LOCK_TIMEOUT_MS, a server error, a mark gone) rolls that back: the tenant stays
 * registered and the same request can be retried. One that succeeded but whose delete did not
 * commit (the control database lost meanwhile) leaves the tenant registered without its
 * database or schema, and a retry finds nothing left to drop (gone is fine: IF EXISTS) and
 * deletes it. While the row is locked no job is created for the tenant (its insert waits for
 * the lock, then finds the tenant deleted, or after a failed drop runs on what is still there),
 * so none runs against a database being dropped. The lock is held for as long as the drop
 * takes: its lock waits are bounded by `provisionLockTimeoutMs`, and the rest is the server
 * removing the files.
 *
 * @returns what was dropped (or found gone already)
 * @throws FleetwayError TENANT_NOT_FOUND, TENANT_BUSY, NOT_PROVISIONED, PROVISIONING_DISABLED,
 *   PROVISIONING_CONFLICT, PROVISIONING_TIMEOUT, PROVISIONING_FAILED; the tenant is kept
 */
export async function dropTenant(deps: DropTenantDeps, tenantId: string): Promise<Provisioned> {
  return inTransaction(deps.pool, async (tx) => {
    const tenant = await lockTenantForDeletion(tx, tenantId);
    // Before the busy check: waiting for the job would not make this request succeed.
    if (tenant.provisioned === null) throw notProvisioned(tenantId);
    await requireNoActiveJob(tx, tenantId);
    await dropProvisioned(
      deps.provisionAdminUrl,
      deps.secretBox.decrypt(tenant.databaseUrlSealed),
      tenantId,
      tenant.provisioned,
      provisionLimits(deps.provisionLockTimeoutMs),
    );
    await deleteLockedTenant(tx, tenantId);
    return tenant.provisioned;
  });
}

function notProvisioned(tenantId: string): FleetwayError {
  return new FleetwayError(
    ErrorCode.NOT_PROVISIONED,
    `Tenant '${tenantId}' was not provisioned by Fleetway: nothing to drop`,
    { tenantId },
  );
}
