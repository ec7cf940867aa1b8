import { ErrorCode, FleetwayError } from "../engine/errors.js";
import { sqlStateOf } from "../engine/runner/connect.js";
import { columnList } from "./column-list.js";
import { decodeCursor, textKey, toPage, type Page } from "./pagination.js";
import { type Queryable, UNIQUE_VIOLATION } from "./queryable.js";

export interface TenantRecord {
  readonly id: string;
  readonly name: string;
  readonly tags: string[];
  readonly databaseUrlSealed: string;
  readonly databaseUrlMasked: string;
  readonly schema: string;
  /** The tenant's version table as last seen by a job or a status read; null before. */
  readonly heads: string[] | null;
  readonly headsSeenAt: Date | null;
  /** What Fleetway created for this tenant (and may drop): a database or a schema. */
  readonly provisioned: Provisioned | null;
  /** When its first migration succeeded. */
  readonly readyAt: Date | null;
  /**
   * Since when its database or schema is being dropped (DELETE ?drop=true: markTenantDeleting);
   * null when it is not.
   */
  readonly deletingSince: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export type Provisioned = { readonly database: string } | { readonly schema: string };

export interface NewTenant {
  readonly id: string;
  readonly name: string;
  readonly tags: readonly string[];
  readonly databaseUrlSealed: string;
  readonly databaseUrlMasked: string;
  readonly schema: string;
  readonly provisioned?: Provisioned | null;
}

export interface TenantFilter {
  readonly limit: number;
  readonly cursor?: string;
  readonly tag?: string;
  /** Tenants whose version table holds this revision. */
  readonly revision?: string;
  /** Tenants whose latest job is in this state. */
  readonly jobState?: string;
}

interface TenantRow {
  id: string;
  name: string;
  tags: string[];
  database_url_sealed: string;
  database_url_masked: string;
  schema_name: string;
  heads: string[] | null;
  heads_seen_at: Date | null;
  provisioned: Provisioned | null;
  ready_at: Date | null;
  deleting_since: Date | null;
  created_at: Date;
  updated_at: Date;
}

const TENANT_ROW: Record<keyof TenantRow, true> = {
  id: true,
  name: true,
  tags: true,
  database_url_sealed: true,
  database_url_masked: true,
  schema_name: true,
  heads: true,
  heads_seen_at: true,
  provisioned: true,
  ready_at: true,
  deleting_since: true,
  created_at: true,
  updated_at: true,
};
const TENANT_COLUMNS = columnList<TenantRow>(TENANT_ROW);
const TENANT_COLUMNS_OF_T = columnList<TenantRow>(TENANT_ROW, "t");

function toTenant(row: TenantRow): TenantRecord {
  return {
    id: row.id,
    name: row.name,
    tags: row.tags,
    databaseUrlSealed: row.database_url_sealed,
    databaseUrlMasked: row.database_url_masked,
    schema: row.schema_name,
    heads: row.heads,
    headsSeenAt: row.heads_seen_at,
    provisioned: row.provisioned,
    readyAt: row.ready_at,
    deletingSince: row.deleting_since,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function tenantNotFound(id: string): FleetwayError {
  return new FleetwayError(ErrorCode.TENANT_NOT_FOUND, `Tenant '${id}' does not exist`, {
    tenantId: id,
  });
}

/** TENANT_DELETING: what is refused while a tenant's database or schema is being dropped. */
export function tenantDeleting(id: string, since: Date | null): FleetwayError {
  const when = since === null ? "" : ` since ${since.toISOString()}`;
  return new FleetwayError(
    ErrorCode.TENANT_DELETING,
    `Tenant '${id}' is being deleted: its database or schema is being dropped${when} ` +
      "(DELETE ?drop=true); it is gone once the drop succeeded, and as it was if the drop failed",
    { tenantId: id, deletingSince: since?.toISOString() ?? null },
  );
}

/** @throws FleetwayError TENANT_EXISTS when the id is taken */
export async function insertTenant(db: Queryable, tenant: NewTenant): Promise<TenantRecord> {
  try {
    const { rows } = await db.query<TenantRow>(
      `INSERT INTO tenants (id, name, tags, database_url_sealed, database_url_masked, schema_name, provisioned)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${TENANT_COLUMNS}`,
      [
        tenant.id,
        tenant.name,
        [...tenant.tags],
        tenant.databaseUrlSealed,
        tenant.databaseUrlMasked,
        tenant.schema,
        tenant.provisioned == null ? null : JSON.stringify(tenant.provisioned),
      ],
    );
    return toTenant(rows[0] as TenantRow);
  } catch (error) {
    if (sqlStateOf(error) === UNIQUE_VIOLATION) {
      throw new FleetwayError(ErrorCode.TENANT_EXISTS, `Tenant '${tenant.id}' already exists`, {
        tenantId: tenant.id,
      });
    }
    throw error;
  }
}

export async function getTenant(db: Queryable, id: string): Promise<TenantRecord | null> {
  const { rows } = await db.query<TenantRow>(
    `SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $1`,
    [id],
  );
  return rows[0] === undefined ? null : toTenant(rows[0]);
}

export async function requireTenant(db: Queryable, id: string): Promise<TenantRecord> {
  const tenant = await getTenant(db, id);
  if (tenant === null) throw tenantNotFound(id);
  return tenant;
}

/** Tenants ordered by id, keyset-paginated. */
export async function listTenants(
  db: Queryable,
  filter: TenantFilter,
): Promise<Page<TenantRecord>> {
  const after = decodeCursor(filter.cursor, textKey);
  const { rows } = await db.query<TenantRow>(
    `SELECT ${TENANT_COLUMNS_OF_T} FROM tenants t
      WHERE ($1::text IS NULL OR t.id > $1::text)
        AND ($2::text IS NULL OR t.tags @> ARRAY[$2::text])
        AND ($3::text IS NULL OR $3::text = ANY (t.heads))
        AND ($4::text IS NULL OR (SELECT j.state FROM jobs j WHERE j.tenant_id = t.id
                                   ORDER BY j.seq DESC LIMIT 1) = $4::text)
      ORDER BY t.id
      LIMIT $5`,
    [after, filter.tag ?? null, filter.revision ?? null, filter.jobState ?? null, filter.limit + 1],
  );
  return toPage(rows.map(toTenant), filter.limit, (t) => t.id);
}

export interface TenantPatch {
  readonly name?: string;
  readonly tags?: readonly string[];
  readonly databaseUrlSealed?: string;
  readonly databaseUrlMasked?: string;
  readonly schema?: string;
}

/**
 * Changes a tenant. Its database or schema stays put while they are being dropped (its
 * deleting_since mark is set): the drop went to them, and a drop that fails keeps the tenant
 * registered where the drop left it; its name and tags may change.
 *
 * @throws FleetwayError TENANT_NOT_FOUND, TENANT_DELETING (a new databaseUrl or schema)
 */
export async function updateTenant(
  db: Queryable,
  id: string,
  patch: TenantPatch,
): Promise<TenantRecord> {
  const { rows } = await db.query<TenantRow>(
    `UPDATE tenants SET
        name = COALESCE($2, name),
        tags = COALESCE($3, tags),
        database_url_sealed = COALESCE($4, database_url_sealed),
        database_url_masked = COALESCE($5, database_url_masked),
        schema_name = COALESCE($6, schema_name),
        -- a new database or schema invalidates what we knew of its version table
        heads = CASE WHEN $4::text IS NULL AND $6::text IS NULL THEN heads END,
        heads_seen_at = CASE WHEN $4::text IS NULL AND $6::text IS NULL THEN heads_seen_at END,
        updated_at = now()
      WHERE id = $1 AND (deleting_since IS NULL OR ($4::text IS NULL AND $6::text IS NULL))
      RETURNING ${TENANT_COLUMNS}`,
    [
      id,
      patch.name ?? null,
      patch.tags === undefined ? null : [...patch.tags],
      patch.databaseUrlSealed ?? null,
      patch.databaseUrlMasked ?? null,
      patch.schema ?? null,
    ],
  );
  if (rows[0] !== undefined) return toTenant(rows[0]);
  const current = await getTenant(db, id);
  throw current === null ? tenantNotFound(id) : tenantDeleting(id, current.deletingSince);
}

/**
 * Locks a tenant's row for its deletion in `db`'s transaction and returns it. The row lock (FOR
 * UPDATE) serializes with job creation (inserting a job takes a key-share lock on its tenant:
 * insertJob), so once the transaction checked that no job is active (requireNoActiveJob) no job
 * slips in before it ends: one being created meanwhile waits, then finds the tenant deleted
 * (TENANT_NOT_FOUND), marked as being deleted (TENANT_DELETING: markTenantDeleting), or, after a
 * rollback, as it was. Hold it only for short transactions: every job insert for the tenant
 * waits for it.
 *
 * @throws FleetwayError TENANT_NOT_FOUND
 */
export async function lockTenantForDeletion(db: Queryable, id: string): Promise<TenantRecord> {
  const { rows } = await db.query<TenantRow>(
    `SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE`,
    [id],
  );
  if (rows[0] === undefined) throw tenantNotFound(id);
  return toTenant(rows[0]);
}

/**
 * Mirrors what a status read saw in the tenant's version table, read live after `seen` was read.
 * Recorded only if the tenant is still as `seen` says: not moved (a PATCH to another database or
 * schema meanwhile, whose heads these are not) and its heads not recorded since (a job that ended
 * meanwhile knows better). Otherwise the read is simply not recorded.
 */
export async function recordTenantHeads(
  db: Queryable,
  seen: TenantRecord,
  heads: readonly string[],
): Promise<void> {
  await db.query(
    // heads_seen_at to the millisecond: `seen` holds it as a JavaScript Date.
    `UPDATE tenants SET heads = $2, heads_seen_at = now()
      WHERE id = $1 AND database_url_sealed = $3 AND schema_name = $4
        AND date_trunc('milliseconds', heads_seen_at) IS NOT DISTINCT FROM $5`,
    [seen.id, [...heads], seen.databaseUrlSealed, seen.schema, seen.headsSeenAt],
  );
}
