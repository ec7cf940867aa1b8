import { randomUUID } from "node:crypto";
import { ErrorCode, FleetwayError } from "../engine/errors.js";
import { columnList } from "./column-list.js";
import { decodeCursor, seqKey, toPage, type Page } from "./pagination.js";
import type { Queryable } from "./queryable.js";
import { jsonbText } from "../engine/jsonb-text.js";

export type TenantSelector =
  | { readonly all: true }
  | { readonly ids: readonly string[] }
  | { readonly tags: readonly string[] };
/** Cumulative: a wave brings the rollout to `count` tenants, or to `percent` of them. */
export type WaveSpec = { readonly count: number } | { readonly percent: number };
export type FailureThreshold = { readonly count: number } | { readonly percent: number };
export type RolloutState = "running" | "paused" | "halted" | "succeeded" | "failed" | "cancelled";
export type RolloutTenantState =
  "pending" | "active" | "succeeded" | "failed" | "skipped" | "cancelled";

export const ACTIVE_ROLLOUT_STATES: readonly RolloutState[] = ["running", "paused"];

export interface RolloutRecord {
  readonly id: string;
  readonly seq: number;
  readonly target: string;
  readonly selector: TenantSelector;
  readonly waves: WaveSpec[];
  /** Cumulative number of tenants reached at the end of each wave. */
  readonly waveSizes: number[];
  readonly maxParallel: number;
  readonly failureThreshold: FailureThreshold;
  readonly state: RolloutState;
  readonly currentWave: number;
  readonly totalTenants: number;
  /** Without any user:password@ (withoutCredentials): views show it as stored. */
  readonly callbackUrl: string | null;
  readonly callbackUrlSealed: string | null;
  readonly haltedReason: string | null;
  /**
   * Waves whose completion was announced (rollout.wave_completed) and none of whose tenants a
   * retry re-queued since: passing through one again announces nothing.
   */
  readonly announcedWaves: number[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly finishedAt: Date | null;
}

interface RolloutRow {
  id: string;
  seq: string;
  target: string;
  selector: TenantSelector;
  waves: WaveSpec[];
  wave_sizes: number[];
  max_parallel: number;
  failure_threshold: FailureThreshold;
  state: RolloutState;
  current_wave: number;
  total_tenants: number;
  callback_url: string | null;
  callback_url_sealed: string | null;
  halted_reason: string | null;
  announced_waves: number[];
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

const ROLLOUT_ROW: Record<keyof RolloutRow, true> = {
  id: true,
  seq: true,
  target: true,
  selector: true,
  waves: true,
  wave_sizes: true,
  max_parallel: true,
  failure_threshold: true,
  state: true,
  current_wave: true,
  total_tenants: true,
  callback_url: true,
  callback_url_sealed: true,
  halted_reason: true,
  announced_waves: true,
  created_at: true,
  updated_at: true,
  finished_at: true,
};
const ROLLOUT_COLUMNS = columnList<RolloutRow>(ROLLOUT_ROW);

const toRollout = (r: RolloutRow): RolloutRecord => ({
  id: r.id,
  seq: Number(r.seq),
  target: r.target,
  selector: r.selector,
  waves: r.waves,
  waveSizes: r.wave_sizes,
  maxParallel: r.max_parallel,
  failureThreshold: r.failure_threshold,
  state: r.state,
  currentWave: r.current_wave,
  totalTenants: r.total_tenants,
  callbackUrl: r.callback_url,
  callbackUrlSealed: r.callback_url_sealed,
  haltedReason: r.halted_reason,
  announcedWaves: r.announced_waves,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  finishedAt: r.finished_at,
});

export function rolloutNotFound(id: string): FleetwayError {
  return new FleetwayError(ErrorCode.ROLLOUT_NOT_FOUND, `Rollout '${id}' does not exist`, {
    rolloutId: id,
  });
}

/** The WHERE clause of a selector over `tenants t`, with its parameters starting at $index. */
function selectorSql(selector: TenantSelector, index: number): { sql: string; params: unknown[] } {
  if ("ids" in selector)
    return { sql: `t.id = ANY ($${index}::text[])`, params: [[...selector.ids]] };
  if ("tags" in selector)
    return { sql: `t.tags && $${index}::text[]`, params: [[...selector.tags]] };
  return { sql: "true", params: [] };
}

export async function countSelectedTenants(
  db: Queryable,
  selector: TenantSelector,
): Promise<number> {
  const where = selectorSql(selector, 1);
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM tenants t WHERE ${where.sql}`,
    where.params,
  );
  return rows[0]?.n ?? 0;
}

/** How many unknown ids a refusal names; the rest are only counted. */
const UNKNOWN_IDS_SHOWN = 100;

/**
 * Refuses a selection by ids that names tenants not registered, as a migration tool refuses a
 * revision it does not know: a mistyped id silently left out would leave that tenant behind
 * while the rollout reports success.
 *
 * @throws FleetwayError UNKNOWN_TENANTS, with the unknown ids in the order given (each once)
 */
export async function assertSelectedTenantsExist(
  db: Queryable,
  selector: TenantSelector,
): Promise<void> {
  if (!("ids" in selector)) return;
  const { rows } = await db.query<{ ids: string[] | null; n: number }>(
    `SELECT (array_agg(u.id ORDER BY u.first))[1:$2] AS ids, count(*)::int AS n
       FROM (SELECT id, min(ord) AS first FROM unnest($1::text[]) WITH ORDINALITY AS g(id, ord)
              GROUP BY id) u
      WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = u.id)`,
    [[...selector.ids], UNKNOWN_IDS_SHOWN],
  );
  const unknown = rows[0];
  if (unknown === undefined || unknown.n === 0) return;
  const ids = unknown.ids ?? [];
  const more = unknown.n > ids.length ? ` and ${unknown.n - ids.length} more` : "";
  throw new FleetwayError(
    ErrorCode.UNKNOWN_TENANTS,
    `No tenant is registered with ${unknown.n === 1 ? "this id" : "these ids"}: ${ids.join(", ")}${more}`,
    { unknownIds: ids, unknownCount: unknown.n },
  );
}

/** Cumulative wave sizes for `total` tenants; the last wave always reaches everyone. */
export function resolveWaveSizes(waves: readonly WaveSpec[], total: number): number[] {
  const sizes = waves.map((w) =>
    // Multiplied first: (7 / 100) * 100 is 7.000000000000001, which ceil makes 8.
    Math.min(total, "count" in w ? w.count : Math.ceil((w.percent * total) / 100)),
  );
  for (let i = 1; i < sizes.length; i++) sizes[i] = Math.max(sizes[i] ?? 0, sizes[i - 1] ?? 0);
  if (sizes.length > 0) sizes[sizes.length - 1] = total;
  return sizes;
}

export interface NewRollout {
  readonly target: string;
  readonly selector: TenantSelector;
  readonly waves: readonly WaveSpec[];
  readonly maxParallel: number;
  readonly failureThreshold: FailureThreshold;
  /** Without any user:password@ (withoutCredentials): views show it as stored. */
  readonly callbackUrl: string | null;
  readonly callbackUrlSealed: string | null;
}

/**
 * Creates the rollout and its tenant list in two statements, whatever the fleet's size: the
 * tenants are selected, numbered and assigned to waves inside PostgreSQL, never loaded here.
 * Run it on one snapshot (inSnapshotTransaction): the wave sizes come from a count taken before
 * the insert, and under read committed a tenant registered in between would be numbered past the
 * last wave (a NOT NULL violation) and one deleted in between would leave the total one too high.
 * Ids that are not registered tenants refuse the rollout (UNKNOWN_TENANTS), on the same snapshot.
 */
export async function insertRollout(db: Queryable, rollout: NewRollout): Promise<RolloutRecord> {
  await assertSelectedTenantsExist(db, rollout.selector);
  const total = await countSelectedTenants(db, rollout.selector);
  const sizes = resolveWaveSizes(rollout.waves, total);
  const id = randomUUID();
  const { rows } = await db.query<RolloutRow>(
    `INSERT INTO rollouts (id, target, selector, waves, wave_sizes, max_parallel, failure_threshold, state,
                           total_tenants, callback_url, callback_url_sealed)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9, $10) RETURNING ${ROLLOUT_COLUMNS}`,
    [
      id,
      rollout.target,
      JSON.stringify(rollout.selector),
      JSON.stringify(rollout.waves),
      sizes,
      rollout.maxParallel,
      JSON.stringify(rollout.failureThreshold),
      total,
      rollout.callbackUrl,
      rollout.callbackUrlSealed,
    ],
  );
  const where = selectorSql(rollout.selector, 3);
  await db.query(
    `INSERT INTO rollout_tenants (rollout_id, tenant_id, wave, position, state)
     SELECT $1, s.id,
            (SELECT min(w.i)::int - 1 FROM unnest($2::int[]) WITH ORDINALITY AS w(size, i) WHERE s.pos <= w.size),
            s.pos, 'pending'
       FROM (SELECT t.id, row_number() OVER (ORDER BY t.id)::int AS pos FROM tenants t WHERE ${where.sql}) s`,
    [id, sizes, ...where.params],
  );
  return toRollout(rows[0] as RolloutRow);
}

export async function getRollout(db: Queryable, id: string): Promise<RolloutRecord | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await db.query<RolloutRow>(
    `SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE id = $1`,
    [id],
  );
  return rows[0] === undefined ? null : toRollout(rows[0]);
}

export async function requireRollout(db: Queryable, id: string): Promise<RolloutRecord> {
  const rollout = await getRollout(db, id);
  if (rollout === null) throw rolloutNotFound(id);
  return rollout;
}

/** Locks a running rollout for one coordinator pass; null when another process holds it. */
export async function lockRunningRollout(db: Queryable, id: string): Promise<RolloutRecord | null> {
  const { rows } = await db.query<RolloutRow>(
    `SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE id = $1 AND state = 'running' FOR UPDATE SKIP LOCKED`,
    [id],
  );
  return rows[0] === undefined ? null : toRollout(rows[0]);
}

/**
 * Whether a rollout is running: after {@link lockRunningRollout} found nothing, tells a rollout
 * another transaction holds (busy: advance it again soon) from one that is not running.
 */
export async function isRolloutRunning(db: Queryable, id: string): Promise<boolean> {
  const { rows } = await db.query<{ running: boolean }>(
    "SELECT state = 'running' AS running FROM rollouts WHERE id = $1",
    [id],
  );
  return rows[0]?.running === true;
}

export async function runningRolloutIds(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    "SELECT id FROM rollouts WHERE state = 'running' ORDER BY seq",
  );
  return rows.map((r) => r.id);
}

/**
 * The running rollouts that have `tenantId` still to launch (pending): those a change to the
 * tenant (its drop's end) may let advance. Through each running rollout's key, not a scan of
 * every rollout's tenants.
 */
export async function rolloutsWaitingFor(db: Queryable, tenantId: string): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT r.id FROM rollouts r
      WHERE r.state = 'running'
        AND EXISTS (SELECT 1 FROM rollout_tenants rt
                     WHERE rt.rollout_id = r.id AND rt.tenant_id = $1 AND rt.state = 'pending')
      ORDER BY r.seq`,
    [tenantId],
  );
  return rows.map((r) => r.id);
}

export async function listRollouts(
  db: Queryable,
  page: { limit: number; cursor?: string },
): Promise<Page<RolloutRecord>> {
  const before = decodeCursor(page.cursor, seqKey);
  const { rows } = await db.query<RolloutRow>(
    `SELECT ${ROLLOUT_COLUMNS} FROM rollouts WHERE ($1::bigint IS NULL OR seq < $1::bigint) ORDER BY seq DESC LIMIT $2`,
    [before, page.limit + 1],
  );
  return toPage(rows.map(toRollout), page.limit, (r) => r.seq);
}

/**
 * Moves a rollout between states; only from the given states. Returns null when it was not in them.
 * `announcedWave` records that wave's completion as announced (see {@link RolloutRecord.announcedWaves}).
 */
export async function transitionRollout(
  db: Queryable,
  id: string,
  from: readonly RolloutState[],
  to: RolloutState,
  changes: { haltedReason?: string | null; currentWave?: number; announcedWave?: number } = {},
): Promise<RolloutRecord | null> {
  const finished = ["succeeded", "failed", "cancelled"].includes(to);
  const { rows } = await db.query<RolloutRow>(
    `UPDATE rollouts SET state = $3,
            halted_reason = CASE WHEN $4 THEN $5 ELSE halted_reason END,
            current_wave = COALESCE($6, current_wave),
            finished_at = CASE WHEN $7 THEN now() ELSE NULL END,
            announced_waves = CASE WHEN $8::int IS NULL OR $8::int = ANY (announced_waves)
                                   THEN announced_waves ELSE announced_waves || $8::int END,
            updated_at = now()
      WHERE id = $1 AND state = ANY ($2::text[]) RETURNING ${ROLLOUT_COLUMNS}`,
    [
      id,
      [...from],
      to,
      changes.haltedReason !== undefined,
      changes.haltedReason ?? null,
      changes.currentWave ?? null,
      finished,
      changes.announcedWave ?? null,
    ],
  );
  return rows[0] === undefined ? null : toRollout(rows[0]);
}

/**
 * Why a rollout's tenant was skipped when it was deleted while the rollout ran: it is no longer
 * part of the fleet, so there is nothing to migrate and nothing failed. Counted as a failure it
 * would halt the rollout, and every retry would halt it again, since the tenant never comes back.
 */
export const TENANT_DELETED_ERROR = {
  code: ErrorCode.TENANT_DELETED,
  message: "The tenant was deleted while the rollout ran: skipped",
} as const;

/** {@link TENANT_DELETED_ERROR} in SQL (its text has no quote to escape). */
const TENANT_DELETED_SQL = `jsonb_build_object('code', '${TENANT_DELETED_ERROR.code}', 'message', '${TENANT_DELETED_ERROR.message}')`;

/** A finished job's state as its rollout tenant's state (`j` is the job). */
const TENANT_STATE_OF_FINISHED_JOB =
  "CASE j.state WHEN 'succeeded' THEN 'succeeded' WHEN 'cancelled' THEN 'cancelled' ELSE 'failed' END";

/**
 * Brings rollout tenants whose job finished in line with the job, and returns the rollout's
 * counts per wave and state, in one statement. It reads the rollout's active tenants (a handful,
 * through a partial index) and one counter row per wave, kept by triggers on rollout_tenants
 * (migration c0a1b2c3d405), so a pass costs the same at the first tenant of a rollout and at its
 * ten-thousandth.
 *
 * Locks: first all of the rollout's counter rows, in wave order (the count(*) reads them all
 * before the first tenant is read; the trigger locks them in the same order), then the active
 * tenants, without waiting for any: one another transaction holds is skipped, and synced by a
 * later pass. A GET syncs without the rollout's row lock, beside the coordinator or a route that
 * holds it, and its snapshot may be older than the tenants it finds (taken before it waited for
 * the counters): waiting for a tenant row there could close a cycle with a transaction that moved
 * the tenant and then waits for the counters in its trigger (a retry after a halt). Never
 * waiting for a tenant, the sync cannot be part of a cycle; the other writers of rollout tenants
 * take turns on the rollout's row. Read FOR UPDATE, the counters are the newest committed ones,
 * and so are the locked tenants (with the job they run now): a tenant another process synced
 * meanwhile is counted once, where it is now. The statement's own moves are added to what it
 * read.
 */
export async function syncAndCountRolloutTenants(
  db: Queryable,
  rolloutId: string,
): Promise<Map<number, StateCounts>> {
  const { rows } = await db.query<WaveCountsRow>(
    // MATERIALIZED: each part runs once and in this order; left to itself the planner may also
    // start the sync from the finished jobs (every job of the rollout) instead of its active tenants.
    `WITH counters AS MATERIALIZED (
       SELECT wave, pending, active, succeeded, failed, skipped, cancelled
         FROM rollout_waves WHERE rollout_id = $1
        ORDER BY wave FOR UPDATE
     ), active AS MATERIALIZED (
       SELECT tenant_id, job_id FROM rollout_tenants
        WHERE rollout_id = $1 AND state = 'active' AND (SELECT count(*) FROM counters) > 0
          FOR UPDATE SKIP LOCKED
     ), synced AS (
       UPDATE rollout_tenants rt
          SET state = CASE WHEN j.id IS NULL THEN 'skipped' ELSE ${TENANT_STATE_OF_FINISHED_JOB} END,
              error = CASE WHEN j.id IS NULL THEN ${TENANT_DELETED_SQL} ELSE j.error END,
              job_seconds = extract(epoch FROM j.finished_at - j.started_at)
         FROM active a LEFT JOIN jobs j ON j.id = a.job_id
        WHERE rt.rollout_id = $1 AND rt.tenant_id = a.tenant_id AND rt.state = 'active'
          AND rt.job_id IS NOT DISTINCT FROM a.job_id
          -- A job that no longer exists (its tenant was deleted, and the job with it) never
          -- ends: the tenant is settled as skipped (TENANT_DELETED), or its wave never would be.
          AND (j.id IS NULL OR j.state IN ('succeeded', 'failed', 'cancelled'))
        RETURNING rt.wave, rt.state
     ), moved AS (
       SELECT wave, count(*)::int AS n,
              count(*) FILTER (WHERE state = 'succeeded')::int AS succeeded,
              count(*) FILTER (WHERE state = 'failed')::int AS failed,
              count(*) FILTER (WHERE state = 'skipped')::int AS skipped,
              count(*) FILTER (WHERE state = 'cancelled')::int AS cancelled
         FROM synced GROUP BY wave
     )
     SELECT c.wave, c.pending, c.active - COALESCE(m.n, 0) AS active,
            c.succeeded + COALESCE(m.succeeded, 0) AS succeeded,
            c.failed + COALESCE(m.failed, 0) AS failed,
            c.skipped + COALESCE(m.skipped, 0) AS skipped,
            c.cancelled + COALESCE(m.cancelled, 0) AS cancelled
       FROM counters c LEFT JOIN moved m ON m.wave = c.wave`,
    [rolloutId],
  );
  return countsPerWave(rows);
}

export type StateCounts = Record<RolloutTenantState, number>;

/** Every state at zero: a wave nobody is counted in yet. */
export const emptyCounts = (): StateCounts => ({
  pending: 0,
  active: 0,
  succeeded: 0,
  failed: 0,
  skipped: 0,
  cancelled: 0,
});

/** Tenant counts per wave and state, as the triggers on rollout_tenants keep them. */
export async function waveCounts(
  db: Queryable,
  rolloutId: string,
): Promise<Map<number, StateCounts>> {
  const { rows } = await db.query<WaveCountsRow>(
    `SELECT wave, pending, active, succeeded, failed, skipped, cancelled
       FROM rollout_waves WHERE rollout_id = $1`,
    [rolloutId],
  );
  return countsPerWave(rows);
}

type WaveCountsRow = StateCounts & { wave: number };

function countsPerWave(rows: readonly WaveCountsRow[]): Map<number, StateCounts> {
  return new Map(
    rows.map(({ wave, pending, active, succeeded, failed, skipped, cancelled }) => [
      wave,
      { pending, active, succeeded, failed, skipped, cancelled },
    ]),
  );
}

export function sumCounts(counts: Iterable<StateCounts>): StateCounts {
  const total = emptyCounts();
  for (const c of counts)
    for (const key of Object.keys(total) as RolloutTenantState[]) total[key] += c[key];
  return total;
}

export interface PendingTenant {
  readonly tenantId: string;
  /** Whether the tenant still exists (it may have been deleted since the rollout began). */
  readonly exists: boolean;
  readonly heads: string[] | null;
}

/**
 * The next tenants of a wave to launch, in order, with the heads last seen on them. Tenants busy
 * with another job (a manual one, another rollout's) are passed over, so they do not hold the
 * rollout's free slots until the tick; they come back in their place once free. (The job's insert
 * still refuses a tenant that became busy since: TENANT_BUSY.)
 */
export async function nextPendingTenants(
  db: Queryable,
  rolloutId: string,
  wave: number,
  limit: number,
): Promise<PendingTenant[]> {
  const { rows } = await db.query<{ tenant_id: string; exists: boolean; heads: string[] | null }>(
    `SELECT rt.tenant_id, t.id IS NOT NULL AS exists, t.heads
       FROM rollout_tenants rt LEFT JOIN tenants t ON t.id = rt.tenant_id
      WHERE rt.rollout_id = $1 AND rt.wave = $2 AND rt.state = 'pending'
        AND NOT EXISTS (SELECT 1 FROM jobs j
                         WHERE j.tenant_id = rt.tenant_id AND j.state IN ('queued', 'running'))
      ORDER BY rt.position LIMIT $3`,
    [rolloutId, wave, limit],
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, exists: r.exists, heads: r.heads }));
}

export async function setRolloutTenant(
  db: Queryable,
  rolloutId: string,
  tenantId: string,
  state: RolloutTenantState,
  fields: { jobId?: string | null; error?: Record<string, unknown> | null } = {},
): Promise<void> {
  await db.query(
    `UPDATE rollout_tenants SET state = $3, job_id = COALESCE($4, job_id), error = $5
      WHERE rollout_id = $1 AND tenant_id = $2`,
    [
      rolloutId,
      tenantId,
      state,
      fields.jobId ?? null,
      fields.error === undefined || fields.error === null ? null : jsonbText(fields.error),
    ],
  );
}

export interface RolloutFailure {
  readonly tenantId: string;
  /** Both count against the failure threshold: a cancelled job halts a rollout too. */
  readonly state: "failed" | "cancelled";
  readonly wave: number;
  readonly jobId: string | null;
  readonly error: Record<string, unknown> | null;
}

/** A tenant a rollout skipped because it was deleted while the rollout ran. */
export interface RolloutDeletedTenant {
  readonly tenantId: string;
  readonly wave: number;
}

/**
 * The rollout's failed and cancelled tenants, and those it skipped as deleted (TENANT_DELETED),
 * the first `limit` of each, in wave and position order: one statement, each half through its
 * own index (the deleted ones through a partial index of them, not every skipped tenant).
 */
export async function rolloutFailuresAndDeletedTenants(
  db: Queryable,
  rolloutId: string,
  limit = 100,
): Promise<{ failures: RolloutFailure[]; deletedTenants: RolloutDeletedTenant[] }> {
  const { rows } = await db.query<{
    tenant_id: string;
    state: "failed" | "cancelled" | "skipped";
    wave: number;
    job_id: string | null;
    error: Record<string, unknown> | null;
  }>(
    `SELECT tenant_id, state, wave, job_id, error FROM (
       (SELECT tenant_id, state, wave, position, job_id, error FROM rollout_tenants
         WHERE rollout_id = $1 AND state IN ('failed', 'cancelled')
         ORDER BY wave, position LIMIT $2)
       UNION ALL
       (SELECT tenant_id, state, wave, position, job_id, error FROM rollout_tenants
         WHERE rollout_id = $1 AND state = 'skipped' AND error IS NOT NULL
           AND error->>'code' = $3
         ORDER BY wave, position LIMIT $2)
     ) listed ORDER BY wave, position`,
    [rolloutId, limit, ErrorCode.TENANT_DELETED],
  );
  const failures: RolloutFailure[] = [];
  const deletedTenants: RolloutDeletedTenant[] = [];
  for (const r of rows) {
    if (r.state === "skipped") deletedTenants.push({ tenantId: r.tenant_id, wave: r.wave });
    else
      failures.push({
        tenantId: r.tenant_id,
        state: r.state,
        wave: r.wave,
        jobId: r.job_id,
        error: r.error,
      });
  }
  return { failures, deletedTenants };
}

/** Active jobs of a rollout (to cancel them). */
export async function activeRolloutJobIds(db: Queryable, rolloutId: string): Promise<string[]> {
  const { rows } = await db.query<{ job_id: string }>(
    "SELECT job_id FROM rollout_tenants WHERE rollout_id = $1 AND state = 'active' AND job_id IS NOT NULL",
    [rolloutId],
  );
  return rows.map((r) => r.job_id);
}

/** For cancel: tenants not yet launched will never be. */
export async function cancelPendingTenants(db: Queryable, rolloutId: string): Promise<void> {
  await db.query(
    "UPDATE rollout_tenants SET state = 'cancelled' WHERE rollout_id = $1 AND state = 'pending'",
    [rolloutId],
  );
}

/**
 * For retry: failed (and cancelled) tenants go back to pending, in their waves. So do tenants
 * still marked active whose job failed or was cancelled: a halted rollout is not advanced, so a
 * job that ended after the halt is only synced when somebody reads the rollout, and a retry must
 * not leave it to be counted as a failure again (halting the rollout anew). The rollout's current
 * wave moves back to the earliest wave with a re-queued tenant, and the waves with a re-queued
 * tenant are no longer announced: they will complete again, and be announced again then, while
 * the waves between them, passed through unchanged, are not announced twice.
 */
export async function resetFailedTenants(db: Queryable, rolloutId: string): Promise<number> {
  // The rollout goes back to the earliest wave with a re-queued tenant: it only launches tenants
  // of its current wave, and would otherwise finish with earlier ones still pending.
  const { rows } = await db.query<{ n: number }>(
    `WITH reset AS (
       UPDATE rollout_tenants rt
          SET state = 'pending', job_id = NULL, error = NULL, job_seconds = NULL
        WHERE rt.rollout_id = $1
          AND (rt.state IN ('failed', 'cancelled')
               OR (rt.state = 'active' AND EXISTS (
                     SELECT 1 FROM jobs j WHERE j.id = rt.job_id AND j.state IN ('failed', 'cancelled'))))
        RETURNING rt.wave
     ), rewound AS (
       UPDATE rollouts
          SET current_wave = LEAST(current_wave, (SELECT min(wave) FROM reset)),
              announced_waves = ARRAY(SELECT w FROM unnest(announced_waves) w
                                       WHERE w NOT IN (SELECT wave FROM reset) ORDER BY w),
              updated_at = now()
        WHERE id = $1 AND EXISTS (SELECT 1 FROM reset)
     )
     SELECT count(*)::int AS n FROM reset`,
    [rolloutId],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Average duration of the rollout's finished jobs, for the ETA: from the per-wave sums the
 * triggers on rollout_tenants keep (a tenant's duration is recorded when it is brought in line
 * with its finished job), so one row per wave, not every job of the rollout.
 */
export async function averageJobSeconds(db: Queryable, rolloutId: string): Promise<number | null> {
  const { rows } = await db.query<{ avg: number | null }>(
    `SELECT sum(job_seconds) / NULLIF(sum(timed_jobs), 0) AS avg
       FROM rollout_waves WHERE rollout_id = $1`,
    [rolloutId],
  );
  return rows[0]?.avg ?? null;
}

/** Next per-rollout event sequence number. */
export async function nextRolloutEventSeq(db: Queryable, rolloutId: string): Promise<number> {
  const { rows } = await db.query<{ event_seq: number }>(
    "UPDATE rollouts SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq",
    [rolloutId],
  );
  return rows[0]?.event_seq ?? 0;
}
