import type { TaskStatus } from '../statuses.js';
import type { Queryable } from './pool.js';

/** One task's outcome as `geo results` prints it; result is the stored JSON text. */
export interface ResultRow {
  taskId: string;
  status: TaskStatus;
  result: string | null;
  error: string | null;
}

/**
 * Streams a stage's tasks in task order, a page of batches at a time
 * (keyset on batch_index; batches are aligned, so batch order is task
 * order), so a million tasks never sit in memory. The result comes back as
 * JSON text to be copied into the output line as it is. A task still
 * `pending_queue` in a batch that is `queued` has a message on the queue
 * (step 3 may record sends on the batch row only), so it is reported `queued`.
 */
export async function* resultsStream(
  db: Queryable,
  params: { jobId: string; stage: number; status?: TaskStatus; batchesPerPage?: number },
): AsyncGenerator<ResultRow[]> {
  const pageSize = params.batchesPerPage ?? 100;
  let after = -1;
  for (;;) {
    const page = await db.query<{ batchIndex: number; batchId: string }>(
      `SELECT batch_index AS "batchIndex", batch_id AS "batchId" FROM batches
       WHERE job_id = $1 AND stage = $2 AND batch_index > $3
       ORDER BY batch_index LIMIT $4`,
      [params.jobId, params.stage, after, pageSize],
    );
    if (page.rows.length === 0) return;
    after = page.rows[page.rows.length - 1]!.batchIndex;
    const { rows } = await db.query<ResultRow>(
      `SELECT "taskId", status, result, error FROM (
         SELECT t.task_id AS "taskId", t.task_index,
                CASE WHEN t.status = 'pending_queue' AND b.status = 'queued' THEN 'queued' ELSE t.status END AS status,
                t.result::text AS result, t.error
         FROM tasks t JOIN batches b ON b.batch_id = t.batch_id
         WHERE t.batch_id = ANY($1::text[])
       ) page
       WHERE $2::text IS NULL OR status = $2
       ORDER BY task_index`,
      [page.rows.map((r) => r.batchId), params.status ?? null],
    );
    if (rows.length > 0) yield rows;
  }
}
