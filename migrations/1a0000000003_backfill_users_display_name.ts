/**
 * backfill users.display_name in batches
 *
 * Revision ID: 1a0000000003
 * Revises: 1a0000000002
 *
 * Step 2 of 3: a data migration. Small batches keep each UPDATE's row locks short so the app
 * keeps writing meanwhile; the loop checks ctx.signal so a cancelled job stops between batches.
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

const BATCH_SIZE = 1000;

export async function upgrade(ctx: MigrationContext): Promise<void> {
  let total = 0;
  for (;;) {
    if (ctx.signal.aborted) throw new Error("backfill cancelled");
    const { rowCount } = await ctx.query(
      `UPDATE users SET display_name = split_part(email, '@', 1)
        WHERE id IN (SELECT id FROM users WHERE display_name IS NULL ORDER BY id LIMIT $1)`,
      [BATCH_SIZE],
    );
    total += rowCount;
    if (rowCount < BATCH_SIZE) break;
    ctx.log(`backfilled ${total} users so far`);
  }
  ctx.log(`backfilled display_name of ${total} users`);
}

/** The column held no data before the backfill: undoing it empties the column again. */
export async function downgrade(ctx: MigrationContext): Promise<void> {
  await ctx.query("UPDATE users SET display_name = NULL WHERE display_name IS NOT NULL");
}
