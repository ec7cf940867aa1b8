/**
 * A throwaway control database, migrated, with a pool and one tenant (`acme`), for tests of the
 * control-plane statements that need no running service.
 */
import type pg from "pg";
import {
  createControlPool,
  ensureControlDatabase,
  migrateControlDatabase,
} from "../../src/control/control-db.js";
import { insertJob } from "../../src/control/job-store.js";
import { insertTenant } from "../../src/control/tenant-store.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

export interface ControlTestDatabase {
  readonly db: TestDatabase;
  readonly pool: pg.Pool;
  /** Inserts a queued upgrade job for `acme` and returns its id. */
  queuedJob(): Promise<string>;
  drop(): Promise<void>;
}

export async function createControlTestDatabase(): Promise<ControlTestDatabase> {
  const db = await createTestDatabase();
  await ensureControlDatabase(db.url);
  await migrateControlDatabase(db.url);
  const pool = createControlPool(db.url, 2);
  await insertTenant(pool, {
    id: "acme",
    name: "Acme",
    tags: [],
    databaseUrlSealed: "sealed-url",
    databaseUrlMasked: "postgres://db/acme",
    schema: "acme",
  });
  return {
    db,
    pool,
    async queuedJob() {
      const { job } = await insertJob(
        pool,
        { tenantId: "acme", operation: "upgrade", target: "head", transactionMode: "per-revision" },
        {},
      );
      return job.id;
    },
    async drop() {
      await pool.end();
      await db.drop();
    },
  };
}
