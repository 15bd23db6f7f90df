import type { BatchStatus } from '../statuses.js';
import type { Queryable } from './pool.js';
import type { ClaimOwner } from './stage-completions.js';

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
 * Returns the ids of the batches this call created, claimed by `owner`. A batch that already existed is skipped with its tasks:
 * another sender owns it. ON CONFLICT without a target makes every unique
 * index of `batches` an arbiter, so two concurrent submits of one job are
 * safe whichever index the second one reaches first: it waits for the
 * first's row and then inserts nothing for that batch (a targeted ON CONFLICT
 * (batch_id) raised a unique violation on batches_job_stage_index instead).
 */
export async function batchesInsert(
  db: Queryable,
  params: { batches: NewBatch[]; queued: boolean; leaseSeconds: number; owner: ClaimOwner },
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
                            claimed_until, claim_token, claim_session, queued_at)
       SELECT b.batch_id, b.job_id, b.stage, b.batch_index, b.task_count, b.transport, $6::text,
              CASE WHEN $6::text = 'queued' THEN 1 ELSE 0 END,
              CASE WHEN $6::text = 'pending_queue' THEN now() + make_interval(secs => $7) END,
              CASE WHEN $6::text = 'pending_queue' THEN $14::uuid END,
              CASE WHEN $6::text = 'pending_queue' THEN $15::integer END,
              CASE WHEN $6::text = 'queued' THEN now() END
       FROM unnest($1::text[], $2::text[], $3::integer[], $4::integer[], $5::integer[], $8::text[])
            AS b(batch_id, job_id, stage, batch_index, task_count, transport)
       ON CONFLICT DO NOTHING
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
      params.owner.token,
      params.owner.session,
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
 * Takes the lease on a pending batch whose previous sender's lease expired,
 * for `owner`. FOR UPDATE SKIP LOCKED plus the lease check means two
 * recovering processes never hold one batch at once.
 */
export async function batchesClaim(db: Queryable, params: { batchId: string; leaseSeconds: number; owner: ClaimOwner }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE batches SET claimed_until = now() + make_interval(secs => $2), claim_token = $3, claim_session = $4
     WHERE batch_id = (SELECT batch_id FROM batches
                       WHERE batch_id = $1 AND status = 'pending_queue'
                         AND (claimed_until IS NULL OR claimed_until < now())
                       FOR UPDATE SKIP LOCKED)`,
    [params.batchId, params.leaseSeconds, params.owner.token, params.owner.session],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Extends the leases `claimToken` still holds and returns their batch ids; a
 * batch missing from the answer was taken over (its lease had lapsed) or has
 * left `pending_queue`.
 */
export async function batchesRenewLeases(db: Queryable, params: { batchIds: string[]; leaseSeconds: number; claimToken: string }): Promise<Set<string>> {
  if (params.batchIds.length === 0) return new Set();
  const { rows } = await db.query<{ batchId: string }>(
    // Rows are locked in batch id order, as step 3 locks them: two statements
    // over overlapping batches (this renewal and a group being recorded) would
    // otherwise deadlock.
    `WITH held AS (
       SELECT batch_id FROM batches
       WHERE batch_id = ANY($1::text[]) AND status = 'pending_queue' AND claim_token = $3
       ORDER BY batch_id FOR UPDATE
     )
     UPDATE batches b SET claimed_until = now() + make_interval(secs => $2)
     FROM held WHERE b.batch_id = held.batch_id
     RETURNING b.batch_id AS "batchId"`,
    [params.batchIds, params.leaseSeconds, params.claimToken],
  );
  return new Set(rows.map((r) => r.batchId));
}

/** The tasks of a batch that still need a message. */
export async function batchesPendingTaskIds(db: Queryable, batchId: string): Promise<string[]> {
  const { rows } = await db.query<{ taskId: string }>(`SELECT task_id AS "taskId" FROM tasks WHERE batch_id = $1 AND status = 'pending_queue'`, [batchId]);
  return rows.map((r) => r.taskId);
}

export interface BatchSendRecord {
  batchId: string;
  acknowledged: string[];
  rejected: Array<{ taskId: string; reason: string }>;
  /** `failed` with tasks still unsent: the sender gives up on them (they fail with `error`). */
  status: BatchStatus;
  /** Send attempts this run made for the batch (each one counts, retries included). */
  attempts: number;
  /** The last failed attempt's error, if any attempt failed. */
  error?: string;
  retryAfterMs?: number;
}

/**
 * Step 3 of the batch protocol for several batches in one statement (one
 * commit, whose WAL flush costs more than the rows of a batch).
 *
 * Only batches still claimed by `claimToken` are recorded: a sender whose
 * lease lapsed and was taken over records nothing for that batch (the new
 * owner does). Returns, per batch recorded, how many of its unsent tasks it
 * gave up on (made `failed`).
 *
 * A batch acknowledged as a whole changes only its own row: its tasks stay
 * `pending_queue` and read as `queued` through the batch (geo_task_status),
 * which halves the row work of a sending transport. In a batch that does not
 * end `queued`, acknowledged tasks are marked `queued` one by one (so a
 * resume does not send them again); permanently unsendable ones, and the
 * unsent ones of a batch given up on, become `failed` and count toward their
 * stage.
 */
export async function batchesRecordSends(db: Queryable, params: { records: BatchSendRecord[]; claimToken: string }): Promise<Map<string, { gaveUp: number }>> {
  const { records } = params;
  if (records.length === 0) return new Map();
  const rejected = records.flatMap((r) => r.rejected.map((x) => ({ batch_id: r.batchId, task_id: x.taskId, reason: x.reason })));
  const notQueued = records.filter((r) => r.status !== 'queued');
  const { rows } = await db.query<{ batchId: string; gaveUp: number; stagesCounted: number }>(
    `WITH outcome AS (
       SELECT * FROM json_to_recordset($1::json)
         AS o(batch_id text, status text, attempts integer, error text, retry_after_ms integer)
     ), owned AS (
       -- In batch id order, as lease renewals lock them (see batchesRenewLeases).
       SELECT b.batch_id, o.status, o.error FROM batches b JOIN outcome o ON o.batch_id = b.batch_id
       WHERE b.status = 'pending_queue' AND b.claim_token = $4::uuid
       ORDER BY b.batch_id FOR UPDATE OF b
     ), acked AS (
       UPDATE tasks SET status = 'queued', updated_at = now()
       WHERE task_id = ANY($2::text[]) AND status = 'pending_queue' AND batch_id IN (SELECT batch_id FROM owned)
     ), rejected AS (
       UPDATE tasks t SET status = 'failed', error = r.reason, updated_at = now(), completed_at = now()
       FROM json_to_recordset($3::json) AS r(batch_id text, task_id text, reason text)
       WHERE t.task_id = r.task_id AND t.status = 'pending_queue' AND r.batch_id IN (SELECT batch_id FROM owned)
       RETURNING t.job_id, t.stage
     ), gave_up AS (
       -- Acknowledged and rejected tasks are updated above: one update per row and statement.
       UPDATE tasks t SET status = 'failed', updated_at = now(), completed_at = now(), error = ow.error
       FROM owned ow
       WHERE ow.status = 'failed' AND t.batch_id = ow.batch_id AND t.status = 'pending_queue'
         AND t.task_id <> ALL($2::text[]) AND t.task_id <> ALL($5::text[])
       RETURNING t.job_id, t.stage, t.batch_id
     ), updated AS (
       UPDATE batches b SET
         status = o.status,
         attempts = b.attempts + o.attempts,
         last_error = coalesce(o.error, b.last_error),
         claimed_until = NULL,
         claim_token = NULL,
         claim_session = NULL,
         next_attempt_at = now() + make_interval(secs => coalesce(o.retry_after_ms, 0) / 1000.0),
         queued_at = CASE WHEN o.status = 'queued' THEN now() ELSE b.queued_at END
       FROM outcome o
       WHERE b.batch_id = o.batch_id AND b.batch_id IN (SELECT batch_id FROM owned)
       RETURNING b.batch_id
     ), finished AS (
       -- Failed tasks count toward the stage's end, and the one that ends it records that exactly once.
       SELECT geo_stage_finish(f.job_id, f.stage, 0, f.n::int) AS last
       FROM (SELECT job_id, stage, count(*) AS n
             FROM (SELECT job_id, stage FROM rejected UNION ALL SELECT job_id, stage FROM gave_up) x
             GROUP BY job_id, stage ORDER BY job_id, stage) f
     )
     -- Referencing "finished" is what runs it (a plain SELECT in WITH runs only when read);
     -- it has rows only if some batch was updated, so reading it once per result is enough.
     SELECT u.batch_id AS "batchId", (SELECT count(*) FROM gave_up g WHERE g.batch_id = u.batch_id) AS "gaveUp",
            (SELECT count(*) FROM finished) AS "stagesCounted"
     FROM updated u`,
    [
      JSON.stringify(
        records.map((r) => ({
          batch_id: r.batchId,
          status: r.status,
          attempts: r.attempts,
          error: r.error ?? null,
          retry_after_ms: r.retryAfterMs ?? 0,
        })),
      ),
      // A batch that ends queued needs no task row updates (see above).
      notQueued.flatMap((r) => r.acknowledged),
      JSON.stringify(rejected),
      params.claimToken,
      rejected.map((r) => r.task_id),
    ],
  );
  return new Map(rows.map((r) => [r.batchId, { gaveUp: r.gaveUp }]));
}

export interface BatchState {
  batchId: string;
  jobId: string;
  jobType: string;
  stage: number;
  status: BatchStatus;
  taskCount: number;
  failedTasks: number;
  /** Whether a live claim (a sender's lease that has not lapsed) holds it. */
  claimed: boolean;
}

/** Re-reads the state of batches (those another sender was handling), lease judged by the database's clock. */
export async function batchesStatus(db: Queryable, batchIds: string[]): Promise<BatchState[]> {
  const { rows } = await db.query<BatchState>(
    `SELECT b.batch_id AS "batchId", b.job_id AS "jobId", j.job_type AS "jobType", b.stage, b.status,
            b.task_count AS "taskCount", coalesce(b.claimed_until > now(), false) AS claimed,
            (SELECT count(*) FROM tasks t WHERE t.batch_id = b.batch_id AND t.status = 'failed') AS "failedTasks"
     FROM batches b JOIN jobs j ON j.job_id = b.job_id WHERE b.batch_id = ANY($1::text[])`,
    [batchIds],
  );
  return rows;
}
