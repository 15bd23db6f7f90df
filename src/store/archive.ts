import type { Queryable } from './pool.js';

/**
 * A job's rows as archive lines (geo archive, geo prune --archive-dir): each
 * line a JSON object built by PostgreSQL, so stored JSON (parameters, results,
 * history) is copied into the line without being parsed here. Keys keep the
 * order written (json, not jsonb).
 */

/** The job's line: `{"record": "job", ...}`. */
export async function archiveJobLine(db: Queryable, jobId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ line: string }>(
    `SELECT json_build_object(
       'record', 'job', 'jobId', j.job_id, 'jobType', j.job_type, 'status', j.status, 'parameters', j.parameters,
       'transport', j.processing_path, 'destination', j.destination, 'stageCount', j.stage_count,
       'result', j.result, 'errors', j.errors, 'createdAt', j.created_at, 'completedAt', j.completed_at,
       'archivedAt', now())::text AS line
     FROM jobs j WHERE j.job_id = $1`,
    [jobId],
  );
  return rows[0]?.line;
}

/** One line per stage, in stage order: `{"record": "stage", ...}`. */
export async function archiveStageLines(db: Queryable, jobId: string): Promise<string[]> {
  const { rows } = await db.query<{ line: string }>(
    `SELECT json_build_object(
       'record', 'stage', 'stage', s.stage, 'name', s.name, 'status', s.status, 'taskCount', s.task_count,
       'completed', s.completed_count, 'failed', s.failed_count, 'retried', s.retried_count, 'batchSize', s.batch_size,
       'error', s.error, 'createdAt', s.created_at, 'completedAt', s.completed_at)::text AS line
     FROM stages s WHERE s.job_id = $1 ORDER BY s.stage`,
    [jobId],
  );
  return rows.map((r) => r.line);
}

/**
 * Every task of the job, a page of batches at a time in (stage, batch
 * index) order (keyset over the batches' unique index), as NDJSON text:
 * `{"record": "task", taskId, stage, taskIndex, batchId, taskType, status,
 * attempt, parameters, result, error, history, worker, createdAt, startedAt,
 * completedAt}`. The status is the one geo status reads: through the batch
 * (geo_task_status), and `cancelled` for a task that had not started when
 * its job ended (it never will, whether or not its row was marked yet).
 */
export async function* archiveTaskPages(
  db: Queryable,
  params: { jobId: string; batchesPerPage?: number },
): AsyncGenerator<{ text: string; tasks: number }> {
  const limit = params.batchesPerPage ?? 50;
  let after = { stage: 0, batchIndex: -1 };
  for (;;) {
    const { rows: batches } = await db.query<{ batchId: string; stage: number; batchIndex: number }>(
      `SELECT batch_id AS "batchId", stage, batch_index AS "batchIndex" FROM batches
       WHERE job_id = $1 AND (stage, batch_index) > ($2, $3)
       ORDER BY stage, batch_index LIMIT $4`,
      [params.jobId, after.stage, after.batchIndex, limit],
    );
    if (batches.length === 0) return;
    const last = batches[batches.length - 1]!;
    after = { stage: last.stage, batchIndex: last.batchIndex };
    const { rows } = await db.query<{ line: string }>(
      `SELECT json_build_object(
         'record', 'task', 'taskId', t.task_id, 'stage', t.stage, 'taskIndex', t.task_index, 'batchId', t.batch_id,
         'taskType', t.task_type,
         'status', CASE WHEN j.status <> 'processing' AND geo_task_status(t.status, b.status) IN ('pending_queue', 'queued')
                        THEN 'cancelled' ELSE geo_task_status(t.status, b.status) END,
         'attempt', t.attempt,
         'parameters', t.parameters, 'result', t.result, 'error', t.error, 'history', t.history, 'worker', t.worker,
         'createdAt', t.created_at, 'startedAt', t.started_at, 'completedAt', t.completed_at)::text AS line
       FROM tasks t JOIN batches b ON b.batch_id = t.batch_id JOIN jobs j ON j.job_id = b.job_id
       WHERE t.batch_id = ANY($1::text[])
       ORDER BY t.stage, t.task_index`,
      [batches.map((b) => b.batchId)],
    );
    let text = '';
    for (const row of rows) text += `${row.line}\n`;
    yield { text, tasks: rows.length };
  }
}
