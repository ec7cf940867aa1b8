import type pg from "pg";
import type { Logger } from "pino";
import { inTransaction } from "../control/control-db.js";
import type { Queryable } from "../control/queryable.js";
import { rolloutsWaitingFor } from "../control/rollout-store.js";
import type { SecretBox } from "../control/secret-box.js";
import {
  clearTenantDeleting,
  deleteMarkedTenant,
  markTenantDeleting,
  requireNoActiveJob,
} from "../control/tenant-deletion-store.js";
import {
  lockTenantForDeletion,
  requireTenant,
  tenantDeleting,
  type Provisioned,
  type TenantRecord,
} from "../control/tenant-store.js";
import { ErrorCode, FleetwayError } from "../engine/errors.js";
import { isConnectionError } from "../engine/runner/connect.js";
import { withDropSession, type DropSession } from "./drop-session.js";
import type { ProvisionLimits } from "./provision-tenant.js";

/** What dropping a tenant needs: the control pool, the key of its connection string, the admin. */
export interface DropTenantDeps {
  readonly pool: pg.Pool;
  readonly secretBox: SecretBox;
  readonly logger: Logger;
  /** Admin connection that drops a provisioned database; null disables that. */
  readonly provisionAdminUrl: string | null;
  /** The limits of the DROP (its lock_timeout: FLEETWAY_LOCK_TIMEOUT_MS). */
  readonly provisionLimits: ProvisionLimits;
  /**
   * Called for each running rollout with the tenant still to launch once the drop ended in a
   * way that lets it advance (the tenant deleted, or its mark cleared): a rollout's pass passed
   * over the tenant while it was being dropped, and nothing else wakes it before its next tick.
   */
  readonly onRolloutRunnable?: (rolloutId: string) => void;
}

/**
 * Drops what Fleetway provisioned for a tenant (its database or schema, and only while it
 * carries the tenant's mark: DropSession.drop), then deletes the tenant; refused while a job is
 * active, as any delete.
 *
 * No control transaction is open while the drop runs: it takes as long as the server takes to
 * remove the files, and a transaction held that long would hold a control connection and the
 * tenant's row, which every job insert for the tenant (a rollout pass's among them) would wait
 * for. Instead:
 * 1. the tenant's drop lock is taken on the drop's own connection (DropSession.tryLock): a
 *    second DELETE of the tenant while one drops it is refused at once with 409 TENANT_DELETING;
 * 2. a short control transaction locks the tenant's row, refuses it as any delete would (404,
 *    NOT_PROVISIONED, TENANT_BUSY for an active job) and sets its deleting_since mark: from its
 *    commit on, no job is created for the tenant (TENANT_DELETING, at once), so none can run
 *    against what is being dropped;
 * 3. the drop runs. Once it succeeded the tenant is deleted. If it failed while this session
 *    still holds the drop lock (nothing was dropped, and no other drop runs), the mark is
 *    cleared, before the lock is released, and the tenant takes jobs again; the error is
 *    answered and the same request can be retried. Either way the running rollouts that passed
 *    over the tenant meanwhile are nudged (deps.onRolloutRunnable): they skip or launch it now.
 * A mark that outlives its drop (the process died, the drop's connection was lost, or the
 * tenant's delete did not commit) keeps refusing jobs until a DELETE ?drop=true is retried: it
 * takes the lock once the old drop's server session ended, and finishes (gone already is fine),
 * or a DELETE without drop forgets the tenant.
 *
 * @returns what was dropped (or found gone already)
 * @throws FleetwayError TENANT_NOT_FOUND, TENANT_BUSY, TENANT_DELETING, NOT_PROVISIONED,
 *   DELETION_OUTCOME_UNKNOWN (see commitMark), PROVISIONING_DISABLED, PROVISIONING_CONFLICT, PROVISIONING_TIMEOUT, PROVISIONING_FAILED,
 *   CONNECTION_FAILED; the tenant is kept
 */
export async function dropTenant(deps: DropTenantDeps, tenantId: string): Promise<Provisioned> {
  const seen = await requireTenant(deps.pool, tenantId);
  const provisioned = seen.provisioned;
  if (provisioned === null) throw notProvisioned(tenantId);
  // Refused before connecting to drop; final only under the row lock (markForDrop).
  await requireNoActiveJob(deps.pool, tenantId);
  const target = {
    tenantId,
    provisioned,
    adminUrl: deps.provisionAdminUrl,
    databaseUrl: deps.secretBox.decrypt(seen.databaseUrlSealed),
    limits: deps.provisionLimits,
  };
  const mark = await withDropSession(target, async (session) => {
    if (!(await session.tryLock())) throw tenantDeleting(tenantId, seen.deletingSince);
    const marked = await commitMark(deps, seen);
    await dropOrUnmark(deps, session, tenantId, marked);
    return marked;
  });
  // After the session closed: the mark stays until the delete, so nothing is let in meanwhile.
  await deleteMarkedTenant(deps.pool, tenantId, mark);
  await nudgeRollouts(deps, tenantId);
  return provisioned;
}

/**
 * Step 2 of {@link dropTenant} in a transaction of its own. The connection lost at its COMMIT
 * (nothing else runs after markForDrop returned) leaves unknown whether the mark committed:
 * nothing was dropped, but the tenant may be marked, and refuse jobs, until a DELETE ?drop=true
 * is retried (it renews the mark and drops) or a DELETE without drop forgets it. That is said
 * with its own code, not as the generic 500 of a lost connection.
 *
 * @throws FleetwayError DELETION_OUTCOME_UNKNOWN, or what markForDrop throws
 */
async function commitMark(deps: DropTenantDeps, seen: TenantRecord): Promise<string> {
  const progress = { marked: false };
  try {
    return await inTransaction(deps.pool, async (tx) => {
      const mark = await markForDrop(tx, seen);
      progress.marked = true;
      return mark;
    });
  } catch (error) {
    if (!progress.marked || !isConnectionError(error)) throw error;
    throw new FleetwayError(
      ErrorCode.DELETION_OUTCOME_UNKNOWN,
      `The control database's connection was lost while tenant '${seen.id}' was being marked ` +
        "as being deleted: nothing was dropped, but whether the tenant is marked (its jobs " +
        "refused with TENANT_DELETING) is unknown. Retry the DELETE",
      { tenantId: seen.id },
      { cause: error },
    );
  }
}

/**
 * Step 2 of {@link dropTenant}, in `tx`. The tenant is checked to be where the drop's session
 * went when it was read: a PATCH moving it in between (it may not once marked) would have the
 * drop and its lock on the wrong server.
 */
async function markForDrop(tx: Queryable, seen: TenantRecord): Promise<string> {
  const tenant = await lockTenantForDeletion(tx, seen.id);
  // Before the busy check: waiting for the job would not make this request succeed.
  if (tenant.provisioned === null) throw notProvisioned(seen.id);
  if (tenant.databaseUrlSealed !== seen.databaseUrlSealed) {
    throw new FleetwayError(
      ErrorCode.TENANT_BUSY,
      `Tenant '${seen.id}' was given another databaseUrl while its deletion began; try again`,
      { tenantId: seen.id },
    );
  }
  await requireNoActiveJob(tx, seen.id);
  return markTenantDeleting(tx, seen.id);
}

/** Step 3 of {@link dropTenant}: the drop, and the mark cleared if it dropped nothing. */
async function dropOrUnmark(
  deps: DropTenantDeps,
  session: DropSession,
  tenantId: string,
  mark: string,
): Promise<void> {
  try {
    await session.drop();
  } catch (error) {
    if (await session.stillLocked()) {
      // The drop's error is the answer, unless the mark stays: then the tenant is not "kept as
      // it was", and the caller must hear that jobs stay refused until a retry.
      const cleared = await clearMark(deps, tenantId, mark);
      if (!cleared) throw markKept(error, tenantId);
      await nudgeRollouts(deps, tenantId);
    } else {
      deps.logger.warn(
        { err: error, tenantId },
        "lost the drop's session: the tenant stays marked as being deleted until DELETE ?drop=true is retried",
      );
    }
    throw error;
  }
}

/** Clears this drop's mark, a second time if the first failed; whether it is cleared. */
async function clearMark(deps: DropTenantDeps, tenantId: string, mark: string): Promise<boolean> {
  for (let attempt = 1; attempt <= 2; attempt++) {
    try {
      await clearTenantDeleting(deps.pool, tenantId, mark);
      return true;
    } catch (clearError) {
      deps.logger.warn({ err: clearError, tenantId, attempt }, "could not clear the deleting mark");
    }
  }
  return false;
}

/**
 * Tells the rollouts waiting for the tenant that it was deleted (they skip it) or takes jobs again
 * (they launch its job). Best effort: a rollout not told advances at its next tick. Also for a
 * DELETE without drop: it may forget a tenant that a rollout passed over while it was marked.
 */
export async function nudgeRollouts(
  deps: Pick<DropTenantDeps, "pool" | "logger" | "onRolloutRunnable">,
  tenantId: string,
): Promise<void> {
  if (deps.onRolloutRunnable === undefined) return;
  try {
    for (const id of await rolloutsWaitingFor(deps.pool, tenantId)) deps.onRolloutRunnable(id);
  } catch (error) {
    deps.logger.warn(
      { err: error, tenantId },
      "could not find the rollouts waiting for a deleted or dropped tenant",
    );
  }
}

/** The drop's error, saying that the tenant, though kept, stays marked as being deleted. */
function markKept(error: unknown, tenantId: string): unknown {
  if (!(error instanceof FleetwayError)) return error;
  return new FleetwayError(
    error.code,
    `${error.message}. The tenant is kept but still marked as being deleted (clearing the mark ` +
      `failed): its jobs are refused until DELETE ?drop=true is retried, or a DELETE without ` +
      `drop forgets it`,
    { ...error.data, tenantId, deletingMarkKept: true },
  );
}

function notProvisioned(tenantId: string): FleetwayError {
  return new FleetwayError(
    ErrorCode.NOT_PROVISIONED,
    `Tenant '${tenantId}' was not provisioned by Fleetway: nothing to drop`,
    { tenantId },
  );
}
