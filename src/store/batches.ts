import type { BatchStatus } from '../statuses.js';
import type { Queryable } from './pool.js';

export interface NewTask {
  taskId: string;
  taskIndex: number;
  parameters: Record<string, unknown>;
}

export interface NewBatch {
  batchId: string;
  jobId: string;
  stage: number;
  batchIndex: number;
  taskType: string;
  transport: string;
  tasks: NewTask[];
}

/**
 * Step 1 of the batch protocol: batch rows and all their tasks in ONE
 * statement (so in one implicit transaction). With `queued` (the local
 * transport) the rows are the messages and the batches are done; otherwise
 * they are `pending_queue` under this sender's lease.
 *
 * Returns the ids of the batches this call created. A batch that already
 * existed is skipped with its tasks: another sender owns it. ON CONFLICT makes
 * two concurrent submits of one job safe: the second waits for the first's
 * row and then inserts nothing for that batch.
 */
export async function batchesInsert(
  db: Queryable,
  params: { batches: NewBatch[]; queued: boolean; leaseSeconds: number },
): Promise<Set<string>> {
  const { batches, queued, leaseSeconds } = params;
  const taskBatchIds: string[] = [];
  const taskIds: string[] = [];
  const taskIndexes: number[] = [];
  const taskTypes: string[] = [];
  const parameters: string[] = [];
  for (const batch of batches) {
    for (const task of batch.tasks) {
      taskBatchIds.push(batch.batchId);
      taskIds.push(task.taskId);
      taskIndexes.push(task.taskIndex);
      taskTypes.push(batch.taskType);
      parameters.push(JSON.stringify(task.parameters));
    }
  }
  const { rows } = await db.query<{ batchId: string }>(
    `WITH new_batches AS (
       INSERT INTO batches (batch_id, job_id, stage, batch_index, task_count, transport, status, attempts,
                            claimed_until, queued_at)
       SELECT b.batch_id, b.job_id, b.stage, b.batch_index, b.task_count, b.transport, $6::text,
              CASE WHEN $6::text = 'queued' THEN 1 ELSE 0 END,
              CASE WHEN $6::text = 'pending_queue' THEN now() + make_interval(secs => $7) END,
              CASE WHEN $6::text = 'queued' THEN now() END
       FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[], $5::integer[], $8::text[])
            AS b(batch_id, job_id, stage, batch_index, task_count, transport)
       ON CONFLICT (batch_id) DO NOTHING
       RETURNING batch_id, job_id, stage
     ), new_tasks AS (
       INSERT INTO tasks (task_id, job_id, stage, task_index, batch_id, task_type, status, parameters)
       SELECT t.task_id, nb.job_id, nb.stage, t.task_index, t.batch_id, t.task_type, $6::text, t.parameters::jsonb
       FROM unnest($9::text[], $10::text[], $11::integer[], $12::text[], $13::text[])
            AS t(batch_id, task_id, task_index, task_type, parameters)
       JOIN new_batches nb ON nb.batch_id = t.batch_id
     )
     SELECT batch_id AS "batchId" FROM new_batches`,
    [
      batches.map((b) => b.batchId),
      batches.map((b) => b.jobId),
      batches.map((b) => b.stage),
      batches.map((b) => b.batchIndex),
      batches.map((b) => b.tasks.length),
      queued ? 'queued' : 'pending_queue',
      leaseSeconds,
      batches.map((b) => b.transport),
      taskBatchIds,
      taskIds,
      taskIndexes,
      taskTypes,
      parameters,
    ],
  );
  return new Set(rows.map((r) => r.batchId));
}

export interface StageBatchState {
  batchIndex: number;
  batchId: string;
  status: BatchStatus;
  taskCount: number;
  failedTasks: number;
  claimedUntil: Date | null;
}

/** Every batch of a stage with its failed-task count: proportional to batches. */
export async function batchesForStage(db: Queryable, jobId: string, stage: number): Promise<StageBatchState[]> {
  const { rows } = await db.query<StageBatchState>(
    `SELECT b.batch_index AS "batchIndex", b.batch_id AS "batchId", b.status, b.task_count AS "taskCount",
            coalesce(f.failed, 0) AS "failedTasks", b.claimed_until AS "claimedUntil"
     FROM batches b
     LEFT JOIN (SELECT batch_id, count(*) AS failed FROM tasks
                WHERE job_id = $1 AND stage = $2 AND status = 'failed' GROUP BY batch_id) f
       ON f.batch_id = b.batch_id
     WHERE b.job_id = $1 AND b.stage = $2`,
    [jobId, stage],
  );
  return rows;
}

/**
 * Takes the lease on a pending batch whose previous sender's lease expired.
 * FOR UPDATE SKIP LOCKED plus the lease check means two recovering processes
 * never hold one batch at once.
 */
export async function batchesClaim(db: Queryable, params: { batchId: string; leaseSeconds: number }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE batches SET claimed_until = now() + make_interval(secs => $2)
     WHERE batch_id = (SELECT batch_id FROM batches
                       WHERE batch_id = $1 AND status = 'pending_queue'
                         AND (claimed_until IS NULL OR claimed_until < now())
                       FOR UPDATE SKIP LOCKED)`,
    [params.batchId, params.leaseSeconds],
  );
  return (rowCount ?? 0) > 0;
}

/** Keeps a live sender's leases fresh so recovery never takes its batches. */
export async function batchesRenewLeases(db: Queryable, params: { batchIds: string[]; leaseSeconds: number }): Promise<void> {
  if (params.batchIds.length === 0) return;
  await db.query(
    `UPDATE batches SET claimed_until = now() + make_interval(secs => $2)
     WHERE batch_id = ANY($1::text[]) AND status = 'pending_queue'`,
    [params.batchIds, params.leaseSeconds],
  );
}

/** The tasks of a batch that still need a message. */
export async function batchesPendingTaskIds(db: Queryable, batchId: string): Promise<string[]> {
  const { rows } = await db.query<{ taskId: string }>(
    `SELECT task_id AS "taskId" FROM tasks WHERE batch_id = $1 AND status = 'pending_queue'`,
    [batchId],
  );
  return rows.map((r) => r.taskId);
}

export interface BatchSendRecord {
  batchId: string;
  acknowledged: string[];
  rejected: Array<{ taskId: string; reason: string }>;
  status: BatchStatus;
  error?: string;
  retryAfterMs?: number;
}

/**
 * Step 3 of the batch protocol for several batches in one statement (one
 * commit, whose WAL flush costs more than the rows of a batch): acknowledged tasks become `queued` (only those still
 * `pending_queue`: a fast worker may already have moved one on), permanently
 * unsendable ones `failed`, and each batch takes its status and releases its
 * lease.
 */
export async function batchesRecordSends(db: Queryable, records: BatchSendRecord[]): Promise<void> {
  if (records.length === 0) return;
  await db.query(
    `WITH outcome AS (
       SELECT * FROM json_to_recordset($1::json) AS o(batch_id text, status text, error text, retry_after_ms integer)
     ), acked AS (
       UPDATE tasks SET status = 'queued', updated_at = now()
       WHERE task_id = ANY($2::text[]) AND status = 'pending_queue'
     ), rejected AS (
       UPDATE tasks t SET status = 'failed', error = r.reason, updated_at = now(), completed_at = now()
       FROM json_to_recordset($3::json) AS r(task_id text, reason text)
       WHERE t.task_id = r.task_id AND t.status = 'pending_queue'
       RETURNING t.job_id, t.stage
     ), counted AS (
       -- Failed tasks count toward the stage's end, or it could never complete.
       UPDATE stages s SET failed_count = s.failed_count + r.n
       FROM (SELECT job_id, stage, count(*) AS n FROM rejected GROUP BY job_id, stage) r
       WHERE s.job_id = r.job_id AND s.stage = r.stage
     )
     UPDATE batches b SET
       status = o.status,
       attempts = b.attempts + 1,
       last_error = coalesce(o.error, b.last_error),
       claimed_until = NULL,
       next_attempt_at = now() + make_interval(secs => coalesce(o.retry_after_ms, 0) / 1000.0),
       queued_at = CASE WHEN o.status = 'queued' THEN now() ELSE b.queued_at END
     FROM outcome o
     WHERE b.batch_id = o.batch_id`,
    [
      JSON.stringify(
        records.map((r) => ({ batch_id: r.batchId, status: r.status, error: r.error ?? null, retry_after_ms: r.retryAfterMs ?? 0 })),
      ),
      records.flatMap((r) => r.acknowledged),
      JSON.stringify(records.flatMap((r) => r.rejected.map((x) => ({ task_id: x.taskId, reason: x.reason })))),
    ],
  );
}

/** Re-reads the status of batches (those another sender was handling). */
export async function batchesStatus(
  db: Queryable,
  batchIds: string[],
): Promise<
  Array<{ batchId: string; jobId: string; status: BatchStatus; taskCount: number; failedTasks: number; claimedUntil: Date | null }>
> {
  const { rows } = await db.query(
    `SELECT b.batch_id AS "batchId", b.job_id AS "jobId", b.status, b.task_count AS "taskCount", b.claimed_until AS "claimedUntil",
            (SELECT count(*) FROM tasks t WHERE t.batch_id = b.batch_id AND t.status = 'failed') AS "failedTasks"
     FROM batches b WHERE b.batch_id = ANY($1::text[])`,
    [batchIds],
  );
  return rows;
}
