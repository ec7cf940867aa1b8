import { activeJobOf, tenantBusy } from "./job-store.js";
import type { Queryable } from "./queryable.js";
import { lockTenantForDeletion } from "./tenant-store.js";

/**
 * Refuses a tenant with an active job; only final after lockTenantForDeletion.
 *
 * @throws FleetwayError TENANT_BUSY
 */
export async function requireNoActiveJob(db: Queryable, id: string): Promise<void> {
  const active = await activeJobOf(db, id);
  if (active !== null) throw tenantBusy(id, active);
}

/**
 * Deletes a tenant unless a job is active, in `db`'s transaction (see lockTenantForDeletion).
 * A tenant being dropped (its deleting_since mark set) is deleted too: forgetting it is what a
 * DELETE without drop asks, and the way out for a tenant whose drop can never finish.
 *
 * @throws FleetwayError TENANT_NOT_FOUND, TENANT_BUSY
 */
export async function deleteTenant(db: Queryable, id: string): Promise<void> {
  await lockTenantForDeletion(db, id);
  await requireNoActiveJob(db, id);
  await db.query("DELETE FROM tenants WHERE id = $1", [id]);
}

/**
 * Marks a tenant, locked by lockTenantForDeletion and checked to have no active job in `db`'s
 * transaction, as being dropped: from its commit on, no job is created for it (insertJob refuses
 * it with TENANT_DELETING, at once), so the transaction can end before the drop begins and
 * nothing waits for the drop. A mark left by an earlier drop (its process died) is renewed.
 *
 * @returns the mark, as PostgreSQL wrote it (text keeps the microseconds a Date drops): the drop
 *   clears or deletes only while the tenant still carries this mark
 */
export async function markTenantDeleting(db: Queryable, id: string): Promise<string> {
  const { rows } = await db.query<{ deleting_since: string }>(
    "UPDATE tenants SET deleting_since = now() WHERE id = $1 RETURNING deleting_since::text",
    [id],
  );
  if (rows[0] === undefined) throw new Error(`tenant '${id}' was not locked before its mark`);
  return rows[0].deleting_since;
}

/**
 * Clears the mark of {@link markTenantDeleting} after a drop that dropped nothing; only this
 * drop's own mark (see {@link deleteMarkedTenant}).
 */
export async function clearTenantDeleting(db: Queryable, id: string, mark: string): Promise<void> {
  await db.query(
    "UPDATE tenants SET deleting_since = NULL WHERE id = $1 AND deleting_since = $2::timestamptz",
    [id, mark],
  );
}

/**
 * Deletes a tenant marked by {@link markTenantDeleting} once its drop succeeded. Only while it
 * carries this drop's mark: one forgotten meanwhile (a DELETE without drop) and registered again
 * under the same id is another tenant, which this drop was not for, even once another drop has
 * marked it.
 */
export async function deleteMarkedTenant(db: Queryable, id: string, mark: string): Promise<void> {
  await db.query("DELETE FROM tenants WHERE id = $1 AND deleting_since = $2::timestamptz", [
    id,
    mark,
  ]);
}
