/**
 * A drop clears or deletes only the tenant it marked: after a DELETE without drop forgot the
 * tenant and it was registered again under the same id (and marked by another drop), the first
 * drop's end must leave the new tenant alone.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  clearTenantDeleting,
  deleteMarkedTenant,
  deleteTenant,
  markTenantDeleting,
} from "../../src/control/tenant-deletion-store.js";
import { insertTenant } from "../../src/control/tenant-store.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";

describe("tenant deletion marks", () => {
  let control: ControlTestDatabase;
  before(async () => {
    control = await createControlTestDatabase();
  });
  after(async () => {
    await control.drop();
  });

  const register = (id: string) =>
    insertTenant(control.pool, {
      id,
      name: id,
      tags: [],
      databaseUrlSealed: "sealed-url",
      databaseUrlMasked: `postgres://db/${id}`,
      schema: id,
    });
  const deletingSince = async (id: string): Promise<string | null | undefined> => {
    const { rows } = await control.pool.query<{ deleting_since: string | null }>(
      "SELECT deleting_since::text FROM tenants WHERE id = $1",
      [id],
    );
    return rows[0]?.deleting_since;
  };

  it("a drop's clear and delete touch only its own mark, not a re-registered tenant's", async () => {
    await register("reborn");
    const firstMark = await markTenantDeleting(control.pool, "reborn");
    // Forgotten (DELETE without drop), registered again, and marked by a second drop.
    await deleteTenant(control.pool, "reborn");
    await register("reborn");
    const secondMark = await markTenantDeleting(control.pool, "reborn");
    assert.notEqual(secondMark, firstMark);

    await clearTenantDeleting(control.pool, "reborn", firstMark);
    assert.equal(await deletingSince("reborn"), secondMark, "the second drop's mark stays");
    await deleteMarkedTenant(control.pool, "reborn", firstMark);
    assert.equal(await deletingSince("reborn"), secondMark, "the new tenant is not deleted");

    await clearTenantDeleting(control.pool, "reborn", secondMark);
    assert.equal(await deletingSince("reborn"), null);
    const thirdMark = await markTenantDeleting(control.pool, "reborn");
    await deleteMarkedTenant(control.pool, "reborn", thirdMark);
    assert.equal(await deletingSince("reborn"), undefined, "its own drop deletes it");
  });
});
