import type { TaskStatusCounts } from '../statuses.js';
import type { Queryable } from './pool.js';

export interface ThroughputRow {
  stage: number;
  /** Bucket start, seconds since the epoch. */
  at: number;
  completed: number;
  failed: number;
}

/**
 * Finished tasks per time bucket, from the task rows' own completed_at (set
 * by the completion functions; nothing extra is written while tasks run).
 * Reads the job's tasks through their batches (task_states: there is no
 * index on tasks.job_id), so the cost is one pass over the stages asked for.
 */
export async function dashboardThroughput(db: Queryable, params: { jobId: string; stages?: number[]; bucketSeconds: number }): Promise<ThroughputRow[]> {
  const { rows } = await db.query<ThroughputRow>(
    `SELECT stage, (floor(extract(epoch FROM completed_at) / $3) * $3)::bigint AS at,
            count(*) FILTER (WHERE status = 'completed')::int AS completed,
            count(*) FILTER (WHERE status = 'failed')::int AS failed
     FROM task_states
     WHERE job_id = $1 AND ($2::int[] IS NULL OR stage = ANY($2::int[]))
       AND completed_at IS NOT NULL AND status IN ('completed', 'failed')
     GROUP BY 1, 2 ORDER BY 1, 2`,
    [params.jobId, params.stages ?? null, params.bucketSeconds],
  );
  return rows;
}

export interface ProblemBatchRow {
  batchId: string;
  stage: number;
  batchIndex: number;
  status: string;
  tasks: number;
  attempts: number;
  lastError: string | null;
  counts: TaskStatusCounts;
}

/**
 * The batches `geo batches` calls problems (not queued, or holding failed
 * tasks), first `limit` in stage and batch order, and how many there are.
 * Batches with failed tasks come from the partial index over failed tasks,
 * so a large healthy job costs one pass over its batch rows, not its tasks.
 */
export async function dashboardProblemBatches(db: Queryable, params: { jobId: string; limit: number }): Promise<{ total: number; batches: ProblemBatchRow[] }> {
  const { rows } = await db.query<Omit<ProblemBatchRow, 'counts'> & TaskStatusCounts & { total: number }>(
    `WITH problem AS (
       SELECT b.batch_id, b.stage, b.batch_index, b.status, b.task_count, b.attempts, b.last_error
       FROM batches b
       WHERE b.job_id = $1
         AND (b.status <> 'queued'
              OR b.batch_id IN (SELECT t.batch_id FROM tasks t WHERE t.job_id = $1 AND t.status = 'failed'))
     ), page AS (
       SELECT * FROM problem ORDER BY stage, batch_index LIMIT $2
     )
     SELECT p.batch_id AS "batchId", p.stage, p.batch_index AS "batchIndex", p.status, p.task_count AS tasks,
            p.attempts, p.last_error AS "lastError", (SELECT count(*) FROM problem)::int AS total,
            count(t.task_id) FILTER (WHERE t.status = 'pending_queue')::int AS pending_queue,
            count(t.task_id) FILTER (WHERE t.status = 'queued')::int AS queued,
            count(t.task_id) FILTER (WHERE t.status = 'processing')::int AS processing,
            count(t.task_id) FILTER (WHERE t.status = 'completed')::int AS completed,
            count(t.task_id) FILTER (WHERE t.status = 'failed')::int AS failed,
            count(t.task_id) FILTER (WHERE t.status = 'cancelled')::int AS cancelled
     FROM page p LEFT JOIN task_states t ON t.batch_id = p.batch_id
     GROUP BY p.batch_id, p.stage, p.batch_index, p.status, p.task_count, p.attempts, p.last_error
     ORDER BY p.stage, p.batch_index`,
    [params.jobId, params.limit],
  );
  return {
    total: rows[0]?.total ?? 0,
    batches: rows.map(({ pending_queue, queued, processing, completed, failed, cancelled, total: _total, ...batch }) => ({
      ...batch,
      counts: { pending_queue, queued, processing, completed, failed, cancelled },
    })),
  };
}

export interface StragglerRow {
  taskId: string;
  stage: number;
  taskIndex: number;
  worker: string | null;
  attempt: number;
  startedAt: Date | null;
  leaseUntil: Date | null;
  runningMs: number;
}

/** The job's tasks that have been processing longest (the partial index over processing tasks). */
export async function dashboardStragglers(db: Queryable, params: { jobId: string; limit: number }): Promise<StragglerRow[]> {
  const { rows } = await db.query<StragglerRow>(
    `SELECT t.task_id AS "taskId", t.stage, t.task_index AS "taskIndex", t.worker, t.attempt,
            t.started_at AS "startedAt", t.lease_until AS "leaseUntil",
            (extract(epoch FROM now() - t.started_at) * 1000)::bigint AS "runningMs"
     FROM tasks t
     WHERE t.status = 'processing' AND t.job_id = $1
     ORDER BY t.started_at NULLS LAST, t.task_id
     LIMIT $2`,
    [params.jobId, params.limit],
  );
  return rows;
}

export interface ErrorGroupRow {
  message: string | null;
  count: number;
  stage: number;
  exampleTaskId: string;
  firstAt: Date | null;
}

/** Failed tasks grouped by their error message, the earliest group first (the partial index over failed tasks). */
export async function dashboardErrorGroups(db: Queryable, params: { jobId: string; limit: number }): Promise<{ failed: number; groups: ErrorGroupRow[] }> {
  const { rows } = await db.query<ErrorGroupRow & { failed: number }>(
    `WITH failed AS (
       SELECT t.task_id, t.stage, t.error, t.completed_at FROM tasks t WHERE t.job_id = $1 AND t.status = 'failed'
     )
     SELECT f.error AS message, count(*)::int AS count, min(f.stage) AS stage, min(f.task_id) AS "exampleTaskId",
            min(f.completed_at) AS "firstAt", (SELECT count(*) FROM failed)::int AS failed
     FROM failed f
     GROUP BY f.error
     ORDER BY min(f.completed_at) NULLS LAST, min(f.task_id)
     LIMIT $2`,
    [params.jobId, params.limit],
  );
  return { failed: rows[0]?.failed ?? 0, groups: rows.map(({ failed: _failed, ...group }) => group) };
}

export interface TaskDetailRow {
  taskId: string;
  jobId: string;
  stage: number;
  taskIndex: number;
  batchId: string;
  taskType: string;
  status: string;
  worker: string | null;
  attempt: number;
  retryCount: number;
  parameters: unknown;
  result: unknown;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  leaseUntil: Date | null;
  availableAt: Date | null;
}

/** One task of a job, with its status read through its batch. */
export async function dashboardTask(db: Queryable, params: { jobId: string; taskId: string }): Promise<TaskDetailRow | undefined> {
  const { rows } = await db.query<TaskDetailRow>(
    `SELECT t.task_id AS "taskId", t.job_id AS "jobId", t.stage, t.task_index AS "taskIndex", t.batch_id AS "batchId",
            t.task_type AS "taskType", t.status, t.worker, t.attempt,
            t.retry_count AS "retryCount", t.parameters, t.result, t.error, t.created_at AS "createdAt",
            t.started_at AS "startedAt", t.completed_at AS "completedAt", t.lease_until AS "leaseUntil",
            t.available_at AS "availableAt"
     FROM task_states t
     WHERE t.task_id = $1 AND t.job_id = $2`,
    [params.taskId, params.jobId],
  );
  return rows[0];
}
