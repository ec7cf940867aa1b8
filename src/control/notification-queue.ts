import type { Queryable } from "./queryable.js";

/**
 * The share (0 to 1) of the control database server's NOTIFY queue in use:
 * `pg_notification_queue_usage()`. It grows while a listening session does not read what was
 * announced (a hung API process, a stuck client), and is a server's, shared by its databases.
 * From 0.5 on, job ends are no longer announced (control revision c0a1b2c3d417), so a full queue
 * cannot fail their COMMIT; waiting requests then learn of them only by reading again.
 */
export async function notificationQueueUsage(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ usage: number }>(
    "SELECT pg_notification_queue_usage() AS usage",
  );
  return rows[0]?.usage ?? 0;
}
