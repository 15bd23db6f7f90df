import type { Destination } from '../config/destinations.js';
import type { Queryable } from './pool.js';

/**
 * Steering a running job (migrations/007_run_control.sql): cancel, pause,
 * resume, run the failed tasks again. Each decision is one statement on the
 * job's rows; the claims of the completion API read them, so it holds for
 * every worker at once.
 */

export type CancelOutcome = 'cancelled' | 'already-cancelled' | 'completed' | 'failed' | 'missing';
export type PauseOutcome = 'paused' | 'already-paused' | 'completed' | 'failed' | 'cancelled' | 'missing';
export type ResumeOutcome = 'resumed' | 'not-paused' | 'completed' | 'failed' | 'cancelled' | 'missing';
export type RetryFailedOutcome = 'reopened' | 'nothing-failed' | 'cancelled' | 'pruning' | 'missing';

/** geo_cancel_job: ends the job `cancelled` (with `stage`: that stage, and the job with it). */
export async function jobsCancel(db: Queryable, params: { jobId: string; stage?: number; reason?: string }): Promise<CancelOutcome> {
  const { rows } = await db.query<{ outcome: CancelOutcome }>(`SELECT geo_cancel_job($1, $2, $3) AS outcome`, [
    params.jobId,
    params.stage ?? null,
    params.reason ?? null,
  ]);
  return rows[0]!.outcome;
}

/**
 * geo_cancel_tasks: marks up to `maxBatches` batches' worth of an ended job's
 * unstarted tasks cancelled, from the first batch after `afterBatch`; returns
 * how many, and the batch to go on after (undefined: none was left).
 */
export async function tasksCancelOfEndedJob(
  db: Queryable,
  params: { jobId: string; maxBatches: number; afterBatch?: string },
): Promise<{ cancelled: number; lastBatch?: string }> {
  const { rows } = await db.query<{ cancelled: number; lastBatch: string | null }>(
    `SELECT cancelled, last_batch AS "lastBatch" FROM geo_cancel_tasks($1, $2, $3)`,
    [params.jobId, params.maxBatches, params.afterBatch ?? null],
  );
  return { cancelled: rows[0]!.cancelled, lastBatch: rows[0]!.lastBatch ?? undefined };
}

export async function jobsPause(db: Queryable, jobId: string): Promise<PauseOutcome> {
  const { rows } = await db.query<{ outcome: PauseOutcome }>(`SELECT geo_pause_job($1) AS outcome`, [jobId]);
  return rows[0]!.outcome;
}

export async function jobsResume(db: Queryable, jobId: string): Promise<ResumeOutcome> {
  const { rows } = await db.query<{ outcome: ResumeOutcome }>(`SELECT geo_resume_job($1) AS outcome`, [jobId]);
  return rows[0]!.outcome;
}

/** geo_retry_failed: the failed tasks (of a stage, or named) run again; their stages and the job reopen. */
export async function jobsRetryFailed(
  db: Queryable,
  params: { jobId: string; stage?: number; taskIds?: readonly string[] },
): Promise<{ outcome: RetryFailedOutcome; tasks: number; stages: number }> {
  const { rows } = await db.query<{ outcome: RetryFailedOutcome; tasks: number; stages: number }>(
    `SELECT outcome, tasks, stages FROM geo_retry_failed($1, $2, $3::text[])`,
    [params.jobId, params.stage ?? null, params.taskIds && params.taskIds.length > 0 ? params.taskIds : null],
  );
  return rows[0]!;
}

/** A message geo scheduled for later on a broker that can withdraw it (a Service Bus sequence number). */
export interface ScheduledDelivery {
  taskId: string;
  delivery: string;
  transport: string;
  destination: Destination | null;
  ref: string;
}

/** The scheduled, still future, messages of an ended job. */
export async function redeliveriesScheduledOf(db: Queryable, jobId: string): Promise<ScheduledDelivery[]> {
  const { rows } = await db.query<ScheduledDelivery>(
    `SELECT r.task_id AS "taskId", r.delivery::text AS delivery, j.processing_path AS transport, j.destination, r.scheduled_ref AS ref
     FROM redeliveries r JOIN jobs j ON j.job_id = r.job_id
     WHERE r.job_id = $1 AND j.status <> 'processing' AND r.sent_at IS NOT NULL AND r.scheduled_ref IS NOT NULL AND r.deliver_at > now()`,
    [jobId],
  );
  return rows;
}

/** Drops an ended job's owed messages: those not sent, and the scheduled ones given (withdrawn at the broker). */
export async function redeliveriesDropOfEndedJob(
  db: Queryable,
  params: { jobId: string; withdrawn: ReadonlyArray<{ taskId: string; delivery: string }> },
): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM redeliveries r USING jobs j
     WHERE r.job_id = $1 AND j.job_id = r.job_id AND j.status <> 'processing'
       AND (r.sent_at IS NULL OR (r.task_id, r.delivery) IN (SELECT * FROM unnest($2::text[], $3::bigint[])))`,
    [params.jobId, params.withdrawn.map((w) => w.taskId), params.withdrawn.map((w) => w.delivery)],
  );
  return rowCount ?? 0;
}
