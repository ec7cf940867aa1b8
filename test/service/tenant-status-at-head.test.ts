/**
 * The tenant status' `atHead` (GET /v1/tenants/{id}/status, readTenantStatus) is the engine's
 * isAtAllHeads, the test `fleetway current --check-heads` makes (test/cli/cli-current.test.ts):
 * the version table's rows are exactly the heads `upgrade heads` leaves. Read live from a real
 * tenant database, through a real control database.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createSecretBox } from "../../src/control/secret-box.js";
import { insertTenant, type TenantRecord } from "../../src/control/tenant-store.js";
import { loadMigrations } from "../../src/engine/load-migrations.js";
import { readTenantStatus } from "../../src/jobs/read-tenant-state.js";
import {
  createControlTestDatabase,
  type ControlTestDatabase,
} from "../support/control-database.js";
import { revisionDir, tableRevision, type RevisionDir } from "../support/revision-fixtures.js";
import { createTestDatabase, type TestDatabase } from "../support/test-database.js";

const secretBox = createSecretBox(Buffer.alloc(32, 3));

describe("tenant status atHead", () => {
  let control: ControlTestDatabase;
  let tenantDb: TestDatabase;
  let tenant: TenantRecord;
  let emptyDir: string;
  let revisions: RevisionDir;

  before(async () => {
    control = await createControlTestDatabase();
    tenantDb = await createTestDatabase();
    tenant = await insertTenant(control.pool, {
      id: "at-head",
      name: "At head",
      tags: [],
      databaseUrlSealed: secretBox.encrypt(tenantDb.url),
      databaseUrlMasked: tenantDb.url,
      schema: "public",
    });
    emptyDir = await mkdtemp(join(tmpdir(), "fleetway-status-empty-"));
    // Two branches, so "at head" means at both.
    revisions = await revisionDir([
      tableRevision("a1"),
      tableRevision("a2", ["a1"]),
      tableRevision("b1"),
    ]);
  });
  after(async () => {
    await control.drop();
    await tenantDb.drop();
    await rm(emptyDir, { recursive: true, force: true });
    await revisions.remove();
  });

  const status = async (dir: string) =>
    readTenantStatus(
      { secretBox, pool: control.pool, migrations: await loadMigrations(dir) },
      tenant,
    );

  it("an empty database over an empty migration set is at head, as --check-heads says", async () => {
    // It said false ("at least one head"), where `fleetway current --check-heads` passes, as
    // Alembic's does: no rows and no heads are the same set, and there is nothing to upgrade to.
    const empty = await status(emptyDir);
    assert.deepEqual(
      { heads: empty.heads, atHead: empty.atHead, pending: empty.pending },
      { heads: [], atHead: true, pending: [] },
    );
  });

  it("a database is at head once its rows are every head, and not before", async () => {
    const atBase = await status(revisions.dir);
    assert.deepEqual([atBase.atHead, [...atBase.pending].sort()], [false, ["a1", "a2", "b1"]]);

    await revisions.run({ operation: "upgrade", target: "a2", connectionString: tenantDb.url });
    const oneBranch = await status(revisions.dir);
    assert.deepEqual(
      [oneBranch.heads, oneBranch.atHead, oneBranch.pending],
      [["a2"], false, ["b1"]],
    );

    await revisions.run({ operation: "upgrade", target: "heads", connectionString: tenantDb.url });
    const both = await status(revisions.dir);
    assert.deepEqual([[...both.heads].sort(), both.atHead, both.pending], [["a2", "b1"], true, []]);

    // A row the migration set lacks beside every head: not at head (a newer deployment, or the
    // wrong set), as for --check-heads.
    await tenantDb.query("INSERT INTO fleetway_version (version_num) VALUES ('zz9')");
    const ahead = await status(revisions.dir);
    assert.deepEqual([ahead.atHead, ahead.unknownHeads], [false, ["zz9"]]);

    // The same database against an empty set: rows where the set has no heads.
    assert.equal((await status(emptyDir)).atHead, false);
  });
});
