import type { Destination } from '../config/destinations.js';
import type { Queryable } from './pool.js';
import type { ClaimOwner } from './stage-completions.js';

export interface RecoveryFilter {
  jobId?: string;
  transport?: string;
  /** Only batches created at least this long ago. */
  olderThanSeconds: number;
  /**
   * Only batches due by this time (the run's start, in database time), so a
   * batch this run failed and rescheduled is not claimed again by the same run.
   */
  dueBy?: Date;
}

/** The database's clock, which every lease and due time is measured against. */
export async function databaseNow(db: Queryable): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>('SELECT now() AS now');
  return rows[0]!.now;
}

export interface DueBatch {
  batchId: string;
  jobId: string;
  jobType: string;
  stage: number;
  transport: string;
  /** The job's recorded destination; null for jobs written before destinations were recorded. */
  destination: Destination | null;
  attempts: number;
  lastError: string | null;
}

const DUE_BATCH_COLUMNS = `b.batch_id AS "batchId", b.job_id AS "jobId", j.job_type AS "jobType", b.stage, b.transport,
  j.destination, b.attempts, b.last_error AS "lastError"`;

const DUE_CONDITION = `b.status = 'pending_queue' AND b.next_attempt_at <= coalesce($5::timestamptz, now())
  AND (b.claimed_until IS NULL OR b.claimed_until < now())
  AND b.created_at <= now() - make_interval(secs => $1)
  AND ($2::text IS NULL OR b.job_id = $2) AND ($3::text IS NULL OR b.transport = $3)
  AND NOT (b.job_id = ANY(coalesce($6::text[], '{}')))
  AND (SELECT j.status = 'processing' AND j.paused_at IS NULL FROM jobs j WHERE j.job_id = b.job_id)`;

/**
 * Claims up to `limit` pending batches whose sender's lease has lapsed and
 * whose backoff is over. FOR UPDATE SKIP LOCKED plus the new lease means any
 * number of concurrent retry-pending and submit processes never send one
 * batch at the same time.
 */
export async function batchesClaimDue(
  db: Queryable,
  params: RecoveryFilter & { limit: number; leaseSeconds: number; owner: ClaimOwner; excludeJobs?: string[] },
): Promise<DueBatch[]> {
  const { rows } = await db.query<DueBatch>(
    `WITH due AS (
       SELECT b.batch_id FROM batches b WHERE ${DUE_CONDITION}
       ORDER BY b.next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED
     )
     UPDATE batches b SET claimed_until = now() + make_interval(secs => $7), claim_token = $8, claim_session = $9
     FROM due, jobs j
     WHERE b.batch_id = due.batch_id AND j.job_id = b.job_id
     RETURNING ${DUE_BATCH_COLUMNS}`,
    [
      params.olderThanSeconds,
      params.jobId ?? null,
      params.transport ?? null,
      params.limit,
      params.dueBy ?? null,
      params.excludeJobs ?? null,
      params.leaseSeconds,
      params.owner.token,
      params.owner.session,
    ],
  );
  return rows;
}

/** What batchesClaimDue would claim, changing nothing (--dry-run). */
export async function batchesListDue(db: Queryable, params: RecoveryFilter & { limit: number }): Promise<DueBatch[]> {
  const { rows } = await db.query<DueBatch>(
    `SELECT ${DUE_BATCH_COLUMNS}
     FROM batches b JOIN jobs j ON j.job_id = b.job_id
     WHERE ${DUE_CONDITION} ORDER BY b.next_attempt_at LIMIT $4`,
    [params.olderThanSeconds, params.jobId ?? null, params.transport ?? null, params.limit, params.dueBy ?? null, null],
  );
  return rows;
}

export interface RecoveryTarget {
  jobId: string;
  transport: string;
  destination: Destination | null;
}

/**
 * The jobs this run may have to send for (due batches, stages left half
 * written, tasks in flight whose claim may lapse, owed redeliveries, stages
 * to advance, and with `includeFailed` failed batches it is about to put
 * back) with their destinations, so every destination's configuration is
 * checked before anything is claimed or reset. Jobs whose task rows are their
 * messages send nothing.
 */
export async function recoveryTargets(db: Queryable, params: { jobId?: string; transport?: string; includeFailed?: boolean }): Promise<RecoveryTarget[]> {
  const { rows } = await db.query<RecoveryTarget>(
    `SELECT j.job_id AS "jobId", j.processing_path AS transport, j.destination FROM jobs j
     WHERE ($1::text IS NULL OR j.job_id = $1) AND ($2::text IS NULL OR j.processing_path = $2)
       AND NOT j.tasks_are_messages AND j.status = 'processing'
       AND (EXISTS (SELECT 1 FROM batches b WHERE b.job_id = j.job_id AND b.status = 'pending_queue')
            OR EXISTS (SELECT 1 FROM redeliveries r WHERE r.job_id = j.job_id AND r.sent_at IS NULL)
            OR ($3 AND EXISTS (SELECT 1 FROM batches b WHERE b.job_id = j.job_id AND b.status = 'failed'))
            OR EXISTS (SELECT 1 FROM stages s WHERE s.job_id = j.job_id AND s.status = 'queuing')
            OR EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.job_id AND t.status = 'processing')
            OR EXISTS (SELECT 1 FROM stage_completions sc WHERE sc.job_id = j.job_id AND sc.handled_at IS NULL))`,
    [params.jobId ?? null, params.transport ?? null, params.includeFailed ?? false],
  );
  return rows;
}

export interface PendingSummary {
  /** Tasks without a message, in pending batches. */
  pendingTasks: number;
  pendingBatches: number;
  /** Of those, batches (and their tasks) under a live claim of some process. */
  heldBatches: number;
  heldTasks: number;
  /** Of the held ones, the tasks whose claim a live geo session holds: work in progress of a live process. */
  sessionTasks: number;
  /** Batches waiting out their backoff before the next attempt. */
  backoffBatches: number;
}

/** Every pending batch, whoever holds it: no run may report 0 pending while one exists. */
export async function pendingSummary(db: Queryable, params: { jobId?: string; transport?: string }): Promise<PendingSummary> {
  const { rows } = await db.query<PendingSummary>(
    `SELECT coalesce(sum(p.n), 0)::int AS "pendingTasks", count(*)::int AS "pendingBatches",
            count(*) FILTER (WHERE p.held)::int AS "heldBatches",
            coalesce(sum(p.n) FILTER (WHERE p.held), 0)::int AS "heldTasks",
            coalesce(sum(p.n) FILTER (WHERE p.held AND p.live), 0)::int AS "sessionTasks",
            count(*) FILTER (WHERE NOT p.held AND p.next_attempt_at > now())::int AS "backoffBatches"
     FROM (SELECT coalesce(b.claimed_until > now(), false) AS held, b.next_attempt_at,
                  b.claim_session IN (SELECT geo_live_sessions()) AS live,
                  (SELECT count(*) FROM tasks t WHERE t.batch_id = b.batch_id AND t.status = 'pending_queue') AS n
           FROM batches b
           WHERE b.status = 'pending_queue' AND ($1::text IS NULL OR b.job_id = $1) AND ($2::text IS NULL OR b.transport = $2)) p`,
    [params.jobId ?? null, params.transport ?? null],
  );
  return rows[0]!;
}

export interface PendingTask {
  taskId: string;
  taskType: string;
  parameters: Record<string, unknown>;
}

/** The still-unsent tasks of several batches, in one query, keyed by batch id. */
export async function tasksPendingInBatches(db: Queryable, batchIds: string[]): Promise<Map<string, PendingTask[]>> {
  const { rows } = await db.query<PendingTask & { batchId: string }>(
    `SELECT batch_id AS "batchId", task_id AS "taskId", task_type AS "taskType", parameters
     FROM tasks WHERE batch_id = ANY($1::text[]) AND status = 'pending_queue' ORDER BY batch_id, task_index`,
    [batchIds],
  );
  const byBatch = new Map<string, PendingTask[]>(batchIds.map((id) => [id, []]));
  for (const { batchId, ...task } of rows) byBatch.get(batchId)!.push(task);
  return byBatch;
}

/**
 * Puts failed batches back to pending (--include-failed): the batch with a
 * fresh attempt count, and its tasks that never reached a worker. A stage
 * those failures had finished is open again (and a job they had failed is
 * `processing` again), so the tasks' completions can finish it anew. Jobs in
 * `excludeJobs` (their destination is not configured here) keep theirs: this
 * run could not send them, and a reset is a write.
 */
export async function batchesResetFailed(db: Queryable, params: { jobId?: string; transport?: string; excludeJobs?: string[] }): Promise<number> {
  const { rows } = await db.query<{ reset: number }>(
    `WITH reset AS (
       UPDATE batches SET status = 'pending_queue', attempts = 0, next_attempt_at = now(), claimed_until = NULL
       WHERE status = 'failed' AND ($1::text IS NULL OR job_id = $1) AND ($2::text IS NULL OR transport = $2)
         AND NOT (job_id = ANY(coalesce($3::text[], '{}')))
       RETURNING batch_id
     ), tasks_reset AS (
       UPDATE tasks SET status = 'pending_queue', error = NULL, updated_at = now(), completed_at = NULL
       FROM reset WHERE tasks.batch_id = reset.batch_id AND tasks.status = 'failed' AND tasks.started_at IS NULL
       RETURNING tasks.job_id, tasks.stage
     ), uncounted AS (
       UPDATE stages s SET failed_count = s.failed_count - r.n, completed_at = NULL,
              status = CASE WHEN s.status IN ('completed', 'failed') THEN 'processing' ELSE s.status END
       FROM (SELECT job_id, stage, count(*) AS n FROM tasks_reset GROUP BY job_id, stage) r
       WHERE s.job_id = r.job_id AND s.stage = r.stage
     ), reopened AS (
       UPDATE jobs SET status = 'processing', completed_at = NULL, errors = NULL, updated_at = now()
       WHERE status = 'failed' AND job_id IN (SELECT job_id FROM tasks_reset)
     )
     SELECT count(*)::int AS reset FROM reset`,
    [params.jobId ?? null, params.transport ?? null, params.excludeJobs ?? null],
  );
  return rows[0]?.reset ?? 0;
}

export async function batchesCountFailed(db: Queryable, params: { jobId?: string; transport?: string }): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM batches
     WHERE status = 'failed' AND ($1::text IS NULL OR job_id = $1) AND ($2::text IS NULL OR transport = $2)`,
    [params.jobId ?? null, params.transport ?? null],
  );
  return rows[0]?.n ?? 0;
}

/** The destinations of running jobs whose messages go to a broker: the queues whose dead letters the sweep reads. */
export async function jobsRunningDestinations(db: Queryable, params: { jobId?: string; excludeJobs?: readonly string[] }): Promise<RecoveryTarget[]> {
  const { rows } = await db.query<RecoveryTarget>(
    `SELECT DISTINCT ON (j.processing_path, j.destination::text) j.job_id AS "jobId", j.processing_path AS transport, j.destination
     FROM jobs j
     WHERE j.status = 'processing' AND NOT j.tasks_are_messages
       AND ($1::text IS NULL OR j.job_id = $1) AND NOT (j.job_id = ANY(coalesce($2::text[], '{}')))`,
    [params.jobId ?? null, params.excludeJobs ?? null],
  );
  return rows;
}
