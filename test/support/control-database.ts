/**
 * A throwaway control database, migrated, with a pool and one tenant (`acme`), for tests of the
 * control-plane statements that need no running service.
 */
import type pg from "pg";
import {
  CONTROL_HISTORY_TABLE,
  CONTROL_MIGRATIONS_DIR,
  CONTROL_VERSION_TABLE,
  createControlPool,
  ensureControlDatabase,
  migrateControlDatabase,
} from "../../src/control/control-db.js";
import { loadMigrations } from "../../src/engine/load-migrations.js";
import { migrate, type MigrateOptions } from "../../src/engine/migrate.js";
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

/**
 * Upgrades a control database to one of its revisions (not necessarily the head), for tests of
 * what a control revision does to the rows an older one left.
 */
export async function upgradeControlTo(
  url: string,
  target: string,
  options: Pick<MigrateOptions, "lockTimeoutMs" | "lockTimeoutRetries"> = {},
): ReturnType<typeof migrate> {
  return migrate({
    migrations: await loadMigrations(CONTROL_MIGRATIONS_DIR),
    operation: "upgrade",
    target,
    connectionString: url,
    versionTable: CONTROL_VERSION_TABLE,
    historyTable: CONTROL_HISTORY_TABLE,
    ...options,
  });
}

/** Downgrades a control database to one of its revisions, for tests of a revision's downgrade. */
export async function downgradeControlTo(url: string, target: string): ReturnType<typeof migrate> {
  return migrate({
    migrations: await loadMigrations(CONTROL_MIGRATIONS_DIR),
    operation: "downgrade",
    target,
    connectionString: url,
    versionTable: CONTROL_VERSION_TABLE,
    historyTable: CONTROL_HISTORY_TABLE,
  });
}
