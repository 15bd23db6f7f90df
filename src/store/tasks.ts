import type { Queryable } from './pool.js';

export interface TaskResultRow {
  taskIndex: number;
  taskId: string;
  status: string;
  result: unknown;
  error: string | null;
}

/**
 * Streams a stage's tasks with their results in semantic order, a page of
 * batches at a time (batches are aligned, so batch order is index order), so
 * the next stage can be built from 10 million results without holding them.
 */
export async function* tasksStreamResults(db: Queryable, params: { jobId: string; stage: number; batchesPerPage?: number }): AsyncGenerator<TaskResultRow> {
  const pageSize = params.batchesPerPage ?? 50;
  let after = -1;
  for (;;) {
    const { rows } = await db.query<TaskResultRow & { batchIndex: number }>(
      `WITH page AS (
         SELECT batch_id, batch_index FROM batches
         WHERE job_id = $1 AND stage = $2 AND batch_index > $3
         ORDER BY batch_index LIMIT $4
       )
       SELECT page.batch_index AS "batchIndex", t.task_index AS "taskIndex", t.task_id AS "taskId",
              t.status, t.result, t.error
       FROM page JOIN task_states t ON t.batch_id = page.batch_id
       ORDER BY t.task_index`,
      [params.jobId, params.stage, after, pageSize],
    );
    for (const row of rows) {
      yield { taskIndex: row.taskIndex, taskId: row.taskId, status: row.status, result: row.result, error: row.error };
    }
    if (rows.length === 0) return;
    after = rows[rows.length - 1]!.batchIndex;
  }
}

export interface TaskError {
  taskId: string;
  error: string | null;
}

/** The first failed tasks of a stage with their errors (the partial index over failed tasks serves it). */
export async function tasksFirstErrors(db: Queryable, params: { jobId: string; stage?: number; limit: number }): Promise<TaskError[]> {
  const { rows } = await db.query<TaskError>(
    `SELECT task_id AS "taskId", error FROM tasks
     WHERE job_id = $1 AND ($2::integer IS NULL OR stage = $2) AND status = 'failed'
     ORDER BY stage, batch_id, task_index LIMIT $3`,
    [params.jobId, params.stage ?? null, params.limit],
  );
  return rows;
}
