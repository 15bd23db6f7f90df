import type { Pool } from '../../../src/store/pool.js';

/** When a statement's transaction committed, as PostgreSQL's clock saw it: between `before` and `after` (ms since the epoch). */
export interface CommitWindow<T> {
  value: T;
  before: number;
  after: number;
}

/**
 * Runs one statement in a transaction of its own and reads the database's
 * clock just before COMMIT and just after it: the commit happened inside
 * that window, and anything the database saw start later began after it.
 */
export async function commitTimed<T>(db: Pool, sql: string, values: unknown[]): Promise<CommitWindow<T>> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ value: T }>(sql, values);
    const before = await client.query<{ t: string }>(`SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t`);
    await client.query('COMMIT');
    const after = await client.query<{ t: string }>(`SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t`);
    return { value: rows[0]!.value, before: Number(before.rows[0]!.t), after: Number(after.rows[0]!.t) };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** A job's tasks by status as every report reads it (task_states). */
export async function taskCounts(db: Pool, jobId: string): Promise<Record<string, number>> {
  const { rows } = await db.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM task_states WHERE job_id = $1 GROUP BY 1`, [jobId]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

/** What of a job could still be claimed, sent or waited for. */
export async function leftovers(db: Pool, jobId: string) {
  const { rows } = await db.query<{ processing: number; unstarted: number; pendingBatches: number; owed: number }>(
    `SELECT (SELECT count(*) FROM tasks t JOIN batches b ON b.batch_id = t.batch_id
             WHERE b.job_id = $1 AND t.status = 'processing')::int AS processing,
            (SELECT count(*) FROM tasks t JOIN batches b ON b.batch_id = t.batch_id
             WHERE b.job_id = $1 AND t.status IN ('pending_queue', 'queued'))::int AS unstarted,
            (SELECT count(*) FROM batches b WHERE b.job_id = $1 AND b.status = 'pending_queue')::int AS "pendingBatches",
            (SELECT count(*) FROM redeliveries r WHERE r.job_id = $1 AND r.sent_at IS NULL)::int AS owed`,
    [jobId],
  );
  return rows[0]!;
}

export async function jobRow(db: Pool, jobId: string) {
  const { rows } = await db.query<{ status: string; pausedAt: Date | null; completedAt: Date | null }>(
    `SELECT status, paused_at AS "pausedAt", completed_at AS "completedAt" FROM jobs WHERE job_id = $1`,
    [jobId],
  );
  return rows[0];
}

/** A stage's finished tasks from its counters. */
export async function stageFinished(db: Pool, jobId: string, stage: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT coalesce(sum(completed_count + failed_count), 0)::int AS n FROM stages WHERE job_id = $1 AND stage = $2`,
    [jobId, stage],
  );
  return rows[0]!.n;
}

/** Claims of a job's tasks that the database started after `afterMs` (started_at is the claim's time). */
export async function claimsAfter(db: Pool, jobId: string, afterMs: number): Promise<Array<{ taskId: string; startedAt: number }>> {
  const { rows } = await db.query<{ taskId: string; startedAt: string }>(
    `SELECT t.task_id AS "taskId", extract(epoch FROM t.started_at) * 1000 AS "startedAt"
     FROM tasks t JOIN batches b ON b.batch_id = t.batch_id
     WHERE b.job_id = $1 AND t.started_at > 'epoch'::timestamptz + $2 * interval '1 millisecond'`,
    [jobId, afterMs],
  );
  return rows.map((r) => ({ taskId: r.taskId, startedAt: Number(r.startedAt) }));
}
