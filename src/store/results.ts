import type { TaskStatus } from '../statuses.js';
import type { Queryable } from './pool.js';

/** One task's outcome as `geo results` prints it; result is the stored JSON text. */
export interface ResultRow {
  taskId: string;
  status: TaskStatus;
  result: string | null;
  error: string | null;
  /** The earlier runs retry-failed kept (JSON text), null for almost every task. */
  history: string | null;
}

/** Pages read ahead of the one being consumed: with a pool they run on other connections, in parallel. */
const READ_AHEAD = 2;

/**
 * Streams a stage's tasks in task order, a page of batches at a time
 * (keyset on batch_index; batches are aligned, so batch order is task
 * order), so a million tasks never sit in memory. The next pages are read
 * while the current one is consumed. The result comes back as JSON text to
 * be copied into the output line as it is. A task still `pending_queue` in a
 * batch that is `queued` has a message on the queue (step 3 may record sends
 * on the batch row only), so it is reported `queued` (the task_states view).
 */
export async function* resultsStream(
  db: Queryable,
  params: { jobId: string; stage: number; status?: TaskStatus; batchesPerPage?: number },
): AsyncGenerator<ResultRow[]> {
  const pageSize = params.batchesPerPage ?? 50;
  let after = -1;
  let exhausted = false;
  const ahead: Array<Promise<ResultRow[]>> = [];
  const readAhead = async () => {
    while (!exhausted && ahead.length < READ_AHEAD) {
      const batches = await batchPage(db, params.jobId, params.stage, after, pageSize);
      if (batches.length === 0) {
        exhausted = true;
        return;
      }
      after = batches[batches.length - 1]!.batchIndex;
      const rows = pageTasks(db, batches, params.status);
      // Awaited in order below; until then a failure must not count as unhandled.
      rows.catch(() => undefined);
      ahead.push(rows);
    }
  };
  for (;;) {
    await readAhead();
    const next = ahead.shift();
    if (!next) return;
    const rows = await next;
    if (rows.length > 0) yield rows;
  }
}

async function batchPage(db: Queryable, jobId: string, stage: number, after: number, limit: number) {
  const { rows } = await db.query<{ batchIndex: number; batchId: string }>(
    `SELECT batch_index AS "batchIndex", batch_id AS "batchId" FROM batches
     WHERE job_id = $1 AND stage = $2 AND batch_index > $3
     ORDER BY batch_index LIMIT $4`,
    [jobId, stage, after, limit],
  );
  return rows;
}

async function pageTasks(db: Queryable, batches: Array<{ batchId: string }>, status?: TaskStatus): Promise<ResultRow[]> {
  const { rows } = await db.query<ResultRow>(
    `SELECT "taskId", status, result, error, history FROM (
       SELECT task_id AS "taskId", task_index, status, result::text AS result, error, history::text AS history
       FROM task_states WHERE batch_id = ANY($1::text[])
     ) page
     WHERE $2::text IS NULL OR status = $2
     ORDER BY task_index`,
    [batches.map((b) => b.batchId), status ?? null],
  );
  return rows;
}
