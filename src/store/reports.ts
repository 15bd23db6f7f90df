import type { TaskStatusCounts } from '../statuses.js';
import type { Queryable } from './pool.js';

export interface BatchReportRow {
  batchId: string;
  stage: number;
  batchIndex: number;
  tasks: number;
  status: string;
  counts: TaskStatusCounts;
  attempts: number;
  lastError: string | null;
}

/**
 * Per-batch status: the job's tasks grouped by batch_id, joined with the
 * batch rows (a batch whose tasks are gone still shows, with zero tasks).
 */
export async function reportsBatches(db: Queryable, params: { jobId: string; stage?: number }): Promise<BatchReportRow[]> {
  const { rows } = await db.query<{
    batchId: string;
    stage: number;
    batchIndex: number;
    status: string;
    attempts: number;
    lastError: string | null;
    tasks: number;
    pending_queue: number;
    queued: number;
    processing: number;
    completed: number;
    failed: number;
    cancelled: number;
  }>(
    `SELECT b.batch_id AS "batchId", b.stage, b.batch_index AS "batchIndex", b.status, b.attempts,
            b.last_error AS "lastError",
            count(t.task_id) AS tasks,
            count(t.task_id) FILTER (WHERE t.status = 'pending_queue') AS pending_queue,
            count(t.task_id) FILTER (WHERE t.status = 'queued') AS queued,
            count(t.task_id) FILTER (WHERE t.status = 'processing') AS processing,
            count(t.task_id) FILTER (WHERE t.status = 'completed') AS completed,
            count(t.task_id) FILTER (WHERE t.status = 'failed') AS failed,
            count(t.task_id) FILTER (WHERE t.status = 'cancelled') AS cancelled
     FROM batches b
     LEFT JOIN task_states t ON t.batch_id = b.batch_id
     WHERE b.job_id = $1 AND ($2::integer IS NULL OR b.stage = $2)
     GROUP BY b.batch_id
     ORDER BY b.stage, b.batch_index`,
    [params.jobId, params.stage ?? null],
  );
  return rows.map((r) => ({
    batchId: r.batchId,
    stage: r.stage,
    batchIndex: r.batchIndex,
    tasks: r.tasks,
    status: r.status,
    counts: {
      pending_queue: r.pending_queue,
      queued: r.queued,
      processing: r.processing,
      completed: r.completed,
      failed: r.failed,
      cancelled: r.cancelled,
    },
    attempts: r.attempts,
    lastError: r.lastError,
  }));
}

export interface StageReportRow {
  stage: number;
  name: string;
  status: string;
  /** Tasks the stage is declared to have. */
  expectedTasks: number;
  /** Tasks written so far (in its batches). */
  writtenTasks: number;
  completed: number;
  failed: number;
}

/** Each stage of a job: declared against written tasks, and its counters. */
export async function reportsStages(db: Queryable, params: { jobId: string; stage?: number }): Promise<StageReportRow[]> {
  const { rows } = await db.query<StageReportRow>(
    `SELECT s.stage, s.name, s.status, s.task_count AS "expectedTasks",
            coalesce((SELECT sum(b.task_count) FROM batches b WHERE b.job_id = s.job_id AND b.stage = s.stage), 0)::int AS "writtenTasks",
            s.completed_count AS completed, s.failed_count AS failed
     FROM stages s WHERE s.job_id = $1 AND ($2::integer IS NULL OR s.stage = $2)
     ORDER BY s.stage`,
    [params.jobId, params.stage ?? null],
  );
  return rows;
}
