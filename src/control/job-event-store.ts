import type { Queryable } from "./queryable.js";
import { jsonbText } from "../engine/jsonb-text.js";

export interface JobEvent {
  readonly jobId: string;
  /** 1, 2, 3... per job: receivers order events by it. */
  readonly seq: number;
  readonly type: string;
  readonly data: Record<string, unknown>;
  readonly createdAt: Date;
}

/**
 * Appends an event to an active (queued or running) job's log; to a job that has ended, nothing:
 * its outcome's event stays its last (a cancel can commit between a worker's statements, e.g.
 * between re-queueing the job for a retry and announcing `job.retrying`). Returns 0 then. The
 * sequence comes from a counter on the job row, bumped in the same statement: the row lock
 * serializes writers (worker and API), so numbers never collide or skip, and a writer waiting
 * for it sees the state the one before it committed.
 */
export async function appendJobEvent(
  db: Queryable,
  jobId: string,
  type: string,
  data: Record<string, unknown> = {},
): Promise<number> {
  const { rows } = await db.query<{ seq: number }>(
    `WITH next AS (UPDATE jobs SET event_seq = event_seq + 1
                    WHERE id = $1 AND state IN ('queued', 'running') RETURNING event_seq)
     INSERT INTO job_events (job_id, seq, type, data)
     SELECT $1, event_seq, $2, $3::jsonb FROM next
     RETURNING seq`,
    [jobId, type, jsonbText(data)],
  );
  return rows[0]?.seq ?? 0;
}

export async function listJobEvents(
  db: Queryable,
  jobId: string,
  page: { afterSeq?: number; limit: number },
): Promise<JobEvent[]> {
  const { rows } = await db.query<{
    job_id: string;
    seq: number;
    type: string;
    data: Record<string, unknown>;
    created_at: Date;
  }>(`SELECT * FROM job_events WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, [
    jobId,
    page.afterSeq ?? 0,
    page.limit,
  ]);
  return rows.map((r) => ({
    jobId: r.job_id,
    seq: r.seq,
    type: r.type,
    data: r.data,
    createdAt: r.created_at,
  }));
}
