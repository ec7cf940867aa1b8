/**
 * backfill users.display_name in batches
 *
 * Revision ID: 1a0000000003
 * Revises: 1a0000000002
 *
 * Step 2 of 3: a data migration. It runs outside a transaction (`transactional = false`) so that
 * each batch commits on its own: inside one transaction every updated row would stay locked
 * until the very end, and batching would buy nothing. Each batch only touches rows still NULL,
 * so a run that was cancelled or failed half-way simply resumes where it stopped when retried.
 * The loop checks ctx.signal so a cancelled job stops between batches.
 */

/** What upgrade and downgrade receive (declared here: revisions load without Fleetway's package). */
interface MigrationContext {
  query(
    sql: string,
    params?: readonly unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number }>;
  readonly schema: string;
  readonly signal: AbortSignal;
  log(message: string): void;
}

export const revision = "1a0000000003";
export const down_revision: string | string[] | null = "1a0000000002";
export const message = "backfill users.display_name in batches";
export const transactional = false;

const BATCH_SIZE = 1000;

export async function upgrade(ctx: MigrationContext): Promise<void> {
  const total = await inBatches(
    ctx,
    `UPDATE users SET display_name = split_part(email, '@', 1)
      WHERE id IN (SELECT id FROM users WHERE display_name IS NULL ORDER BY id LIMIT $1)`,
    "backfilled display_name of",
  );
  ctx.log(`backfilled display_name of ${total} users`);
}

/**
 * The column held no data before the backfill (1a0000000002 adds it empty), so undoing the
 * backfill empties it again; 1a0000000002's downgrade then drops it.
 */
export async function downgrade(ctx: MigrationContext): Promise<void> {
  const total = await inBatches(
    ctx,
    `UPDATE users SET display_name = NULL
      WHERE id IN (SELECT id FROM users WHERE display_name IS NOT NULL ORDER BY id LIMIT $1)`,
    "cleared display_name of",
  );
  ctx.log(`cleared display_name of ${total} users`);
}

/**
 * Runs `update` (which takes the batch size as $1 and only matches rows it has not changed yet)
 * until a batch comes back short, and returns how many rows it changed.
 */
async function inBatches(ctx: MigrationContext, update: string, verb: string): Promise<number> {
  let total = 0;
  for (;;) {
    // Between batches, never inside one: every finished batch is committed and stays done.
    ctx.signal.throwIfAborted();
    const { rowCount } = await ctx.query(update, [BATCH_SIZE]);
    total += rowCount;
    if (rowCount < BATCH_SIZE) return total;
    ctx.log(`${verb} ${total} users so far`);
  }
}
