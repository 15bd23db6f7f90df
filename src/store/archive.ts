import type { Queryable } from './pool.js';

/**
 * A job's rows as archive lines (geo archive, geo prune --archive-dir): each
 * line a JSON object built by PostgreSQL (row_to_json: compact, keys in
 * column order), so stored JSON (parameters, results, history) is copied
 * into the line without being parsed here.
 */

/** The job's line: `{"record": "job", ...}`. */
export async function archiveJobLine(db: Queryable, jobId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ line: string }>(
    `SELECT row_to_json(x)::text AS line FROM (
       SELECT 'job' AS record, j.job_id AS "jobId", j.job_type AS "jobType", j.status, j.parameters,
              j.processing_path AS transport, j.destination, j.stage_count AS "stageCount", j.result, j.errors,
              j.created_at AS "createdAt", j.completed_at AS "completedAt", now() AS "archivedAt"
       FROM jobs j WHERE j.job_id = $1
     ) x`,
    [jobId],
  );
  return rows[0]?.line;
}

/** One line per stage, in stage order: `{"record": "stage", ...}`. */
export async function archiveStageLines(db: Queryable, jobId: string): Promise<string[]> {
  const { rows } = await db.query<{ line: string }>(
    `SELECT row_to_json(x)::text AS line FROM (
       SELECT 'stage' AS record, s.stage, s.name, s.status, s.task_count AS "taskCount", s.completed_count AS completed,
              s.failed_count AS failed, s.retried_count AS retried, s.batch_size AS "batchSize", s.error,
              s.created_at AS "createdAt", s.completed_at AS "completedAt"
       FROM stages s WHERE s.job_id = $1 ORDER BY s.stage
     ) x`,
    [jobId],
  );
  return rows.map((r) => r.line);
}

/**
 * Every task of the job, a page of batches at a time in (stage, batch
 * index) order (keyset over the batches' unique index), as NDJSON text:
 * `{"record": "task", taskId, stage, taskIndex, batchId, taskType, status,
 * attempt, parameters, result, error, history, worker, createdAt, startedAt,
 * completedAt}`. The status is the one geo status reads (task_states), and
 * `cancelled` for a task that had not started when its job ended (it never
 * will, whether or not its row was marked yet).
 */
export async function* archiveTaskPages(db: Queryable, params: { jobId: string; batchesPerPage?: number }): AsyncGenerator<{ text: string; tasks: number }> {
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
      `SELECT row_to_json(x)::text AS line FROM (
         SELECT 'task' AS record, t.task_id AS "taskId", t.stage, t.task_index AS "taskIndex", t.batch_id AS "batchId",
                t.task_type AS "taskType",
                CASE WHEN j.status <> 'processing' AND t.status IN ('pending_queue', 'queued')
                     THEN 'cancelled' ELSE t.status END AS status,
                t.attempt, t.parameters, t.result, t.error, t.history, t.worker,
                t.created_at AS "createdAt", t.started_at AS "startedAt", t.completed_at AS "completedAt"
         FROM task_states t JOIN jobs j ON j.job_id = t.job_id
         WHERE t.batch_id = ANY($1::text[])
         ORDER BY t.stage, t.task_index
       ) x`,
      [batches.map((b) => b.batchId)],
    );
    let text = '';
    for (const row of rows) text += `${row.line}\n`;
    yield { text, tasks: rows.length };
  }
}
