import type { Destination } from '../config/destinations.js';
import type { Queryable } from './pool.js';
import type { ClaimOwner } from './stage-completions.js';

/**
 * What the sweep needs to keep every unfinished task on its way: tasks whose
 * claim lapsed are put back (and owed a message), and owed messages
 * (`redeliveries`, migrations/006) are claimed for sending and recorded.
 */

export interface JobFilter {
  jobId?: string;
  /** Jobs to leave alone (their destination cannot be reached with this configuration). */
  excludeJobs?: readonly string[];
}

export interface LapsedOutcome {
  /** Put back to run again (owed a message unless their rows are their messages). */
  requeued: number;
  /** That lapse was their last allowed attempt. */
  failed: number;
  /** Their job had ended: they will never run. */
  cancelled: number;
}

/**
 * Tasks whose claim lapsed (a worker that is not geo stopped renewing, or a
 * dead geo process's claims freed by sessionsReapDead): the lapse counts as a
 * failed attempt under the stage's retry policy, so each is queued again and
 * owed a message (due now), or fails when it was its last attempt, or is
 * cancelled when its job has ended. Each row is locked and its claim checked
 * in this one statement, so a claim taken in between is never touched.
 */
export async function tasksRequeueLapsed(db: Queryable, params: JobFilter & { limit: number }): Promise<LapsedOutcome> {
  const { rows } = await db.query<{ next: keyof typeof NEXT; n: number }>(
    `WITH lapsed AS (
       SELECT t.task_id, t.claim FROM tasks t
       WHERE t.status = 'processing' AND t.lease_until < now()
         AND ($2::text IS NULL OR t.job_id = $2) AND NOT (t.job_id = ANY(coalesce($3::text[], '{}')))
       ORDER BY t.lease_until LIMIT $1
       FOR UPDATE OF t SKIP LOCKED
     ), decided AS (
       SELECT t.task_id,
              CASE WHEN j.status <> 'processing' OR s.status = 'cancelled' THEN 'cancelled'
                   WHEN t.attempt > s.max_retries THEN 'failed' ELSE 'queued' END AS next
       FROM lapsed l
       JOIN tasks t ON t.task_id = l.task_id AND t.claim IS NOT DISTINCT FROM l.claim
       JOIN jobs j ON j.job_id = t.job_id
       JOIN stages s ON s.job_id = t.job_id AND s.stage = t.stage
       -- A job failing or cancelled at the same moment either waits for this
       -- statement (and then cancels what it queued) or is read as ended.
       FOR SHARE OF j
     ), updated AS (
       UPDATE tasks t SET
         status = d.next, worker = NULL, lease_until = NULL, updated_at = now(),
         available_at = CASE WHEN d.next = 'queued' THEN now() END,
         completed_at = CASE WHEN d.next = 'failed' THEN now() ELSE t.completed_at END,
         error = CASE WHEN d.next = 'cancelled' THEN t.error
                      ELSE format('attempt %s: the worker''s lease lapsed (it stopped, or lost its database connection)%s',
                                  t.attempt, CASE WHEN d.next = 'failed' THEN '; no attempts left' ELSE '' END) END
       FROM decided d WHERE t.task_id = d.task_id
       RETURNING t.task_id, t.job_id, t.stage, d.next
     ), owed AS (
       SELECT geo_owe_delivery(u.task_id, u.job_id, now(), 'lease_lapsed') FROM updated u WHERE u.next = 'queued'
     ), finished AS (
       SELECT geo_stage_finish(f.job_id, f.stage, 0, f.n::int)
       FROM (SELECT job_id, stage, count(*) AS n FROM updated WHERE next = 'failed'
             GROUP BY job_id, stage ORDER BY job_id, stage) f
     )
     -- Reading "owed" and "finished" is what runs them (a SELECT in WITH runs only when read).
     SELECT u.next, count(*)::int AS n, (SELECT count(*) FROM owed) AS owed, (SELECT count(*) FROM finished) AS finished
     FROM updated u GROUP BY u.next`,
    [params.limit, params.jobId ?? null, params.excludeJobs ?? null],
  );
  const outcome: LapsedOutcome = { requeued: 0, failed: 0, cancelled: 0 };
  for (const row of rows) outcome[NEXT[row.next]] += row.n;
  return outcome;
}

const NEXT = { queued: 'requeued', failed: 'failed', cancelled: 'cancelled' } as const;

/** An owed message claimed for sending. */
export interface DueRedelivery {
  taskId: string;
  /** Makes the message id unique to this delivery (decimal text of a bigint). */
  delivery: string;
  deliverAt: Date;
  attempts: number;
  jobId: string;
  jobType: string;
  transport: string;
  destination: Destination | null;
  stage: number;
  batchId: string;
  taskType: string;
  parameters: Record<string, unknown>;
  /** False when the task moved on meanwhile (claimed through another message, finished, its job ended): nothing to send. */
  needed: boolean;
}

/**
 * Claims up to `limit` owed messages that are due for a send attempt, with
 * what their message needs. FOR UPDATE SKIP LOCKED and the lease keep two
 * sweeps from sending one delivery at once.
 */
export async function redeliveriesClaimDue(
  db: Queryable,
  params: JobFilter & { limit: number; leaseSeconds: number; owner: ClaimOwner },
): Promise<DueRedelivery[]> {
  const { rows } = await db.query<DueRedelivery>(
    `WITH due AS (
       SELECT r.task_id FROM redeliveries r
       WHERE r.sent_at IS NULL AND r.next_attempt_at <= now() AND (r.claimed_until IS NULL OR r.claimed_until < now())
         AND ($2::text IS NULL OR r.job_id = $2) AND NOT (r.job_id = ANY(coalesce($3::text[], '{}')))
         -- A paused job's owed messages wait for its resume.
         AND (SELECT j.paused_at IS NULL FROM jobs j WHERE j.job_id = r.job_id)
       ORDER BY r.next_attempt_at LIMIT $1
       FOR UPDATE SKIP LOCKED
     )
     UPDATE redeliveries r
     SET claimed_until = now() + make_interval(secs => $4), claim_token = $5, claim_session = $6, attempts = r.attempts + 1
     FROM due, tasks t, jobs j
     WHERE r.task_id = due.task_id AND t.task_id = r.task_id AND j.job_id = r.job_id
     RETURNING r.task_id AS "taskId", r.delivery::text AS delivery, r.deliver_at AS "deliverAt", r.attempts,
               j.job_id AS "jobId", j.job_type AS "jobType", j.processing_path AS transport, j.destination,
               t.stage, t.batch_id AS "batchId", t.task_type AS "taskType", t.parameters,
               t.status IN ('pending_queue', 'queued') AND j.status = 'processing' AS needed`,
    [params.limit, params.jobId ?? null, params.excludeJobs ?? null, params.leaseSeconds, params.owner.token, params.owner.session],
  );
  return rows;
}

/** One claimed delivery's outcome, as the sweep records it. */
export interface RedeliveryRecord {
  taskId: string;
  delivery: string;
  /** Sent (or not needed). `scheduledRef` is the broker's handle on a message scheduled for later. */
  done: boolean;
  scheduledRef?: string;
  error?: string;
  retryAfterSeconds?: number;
}

/**
 * Records the outcome of claimed deliveries in one statement, for the
 * deliveries `token` still holds: a delivery that is done is removed, unless
 * it was scheduled for later (kept with its broker handle, so a cancel can
 * withdraw it); a failed one waits `retryAfterSeconds` for the next attempt.
 */
export async function redeliveriesRecord(db: Queryable, params: { records: RedeliveryRecord[]; token: string }): Promise<void> {
  if (params.records.length === 0) return;
  await db.query(
    `WITH outcome AS (
       SELECT * FROM json_to_recordset($1::json)
         AS o(task_id text, delivery bigint, done boolean, scheduled_ref text, error text, retry_after_seconds double precision)
     ), held AS (
       SELECT r.task_id, r.deliver_at, o.done, o.scheduled_ref, o.error, o.retry_after_seconds
       FROM redeliveries r JOIN outcome o ON o.task_id = r.task_id AND o.delivery = r.delivery
       WHERE r.claim_token = $2::uuid
       ORDER BY r.task_id FOR UPDATE OF r
     ), removed AS (
       DELETE FROM redeliveries r USING held h
       WHERE r.task_id = h.task_id AND h.done AND (h.scheduled_ref IS NULL OR h.deliver_at <= now())
     )
     UPDATE redeliveries r SET
       sent_at = CASE WHEN h.done THEN now() END,
       scheduled_ref = h.scheduled_ref,
       last_error = coalesce(h.error, r.last_error),
       next_attempt_at = now() + make_interval(secs => coalesce(h.retry_after_seconds, 0)),
       claimed_until = NULL, claim_token = NULL, claim_session = NULL
     FROM held h
     WHERE r.task_id = h.task_id AND NOT (h.done AND (h.scheduled_ref IS NULL OR h.deliver_at <= now()))`,
    [
      JSON.stringify(
        params.records.map((r) => ({
          task_id: r.taskId,
          delivery: r.delivery,
          done: r.done,
          scheduled_ref: r.scheduledRef ?? null,
          error: r.error ?? null,
          retry_after_seconds: r.retryAfterSeconds ?? null,
        })),
      ),
      params.token,
    ],
  );
}

/** Scheduled deliveries whose time has come: the message is live, nothing is left to withdraw. */
export async function redeliveriesPruneDelivered(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(`DELETE FROM redeliveries WHERE sent_at IS NOT NULL AND deliver_at <= now()`);
  return rowCount ?? 0;
}

/**
 * A message of each task came back from a dead-letter (poison) queue: the
 * tasks still waiting for one (unclaimed, job running) are owed a new
 * delivery now. Returns the ids owed one; the others need nothing (finished,
 * cancelled, or held by a live claim, whose lapse the sweep handles).
 */
export async function redeliveriesOweForDeadLetters(db: Queryable, taskIds: readonly string[]): Promise<string[]> {
  if (taskIds.length === 0) return [];
  const { rows } = await db.query<{ taskId: string }>(
    `WITH waiting AS (
       SELECT t.task_id, t.job_id FROM tasks t JOIN jobs j ON j.job_id = t.job_id
       WHERE t.task_id = ANY($1::text[]) AND t.status IN ('pending_queue', 'queued') AND j.status = 'processing'
       ORDER BY t.task_id FOR UPDATE OF t
     )
     SELECT w.task_id AS "taskId", geo_owe_delivery(w.task_id, w.job_id, now(), 'poisoned') FROM waiting w`,
    [taskIds],
  );
  return rows.map((r) => r.taskId);
}

export interface RedeliverySummary {
  /** Owed messages not sent yet (due now or failing). */
  unsent: number;
  /** Of those, the ones whose last send attempt failed. */
  failing: number;
  lastError: string | null;
  /** Sent, scheduled to appear later (retries waiting out their delay). */
  scheduled: number;
}

export async function redeliveriesSummary(db: Queryable, params: { jobId?: string }): Promise<RedeliverySummary> {
  const { rows } = await db.query<RedeliverySummary>(
    `SELECT count(*) FILTER (WHERE sent_at IS NULL)::int AS unsent,
            count(*) FILTER (WHERE sent_at IS NULL AND last_error IS NOT NULL)::int AS failing,
            (array_agg(last_error ORDER BY next_attempt_at DESC) FILTER (WHERE sent_at IS NULL AND last_error IS NOT NULL))[1] AS "lastError",
            count(*) FILTER (WHERE sent_at IS NOT NULL AND deliver_at > now())::int AS scheduled
     FROM redeliveries WHERE ($1::text IS NULL OR job_id = $1)`,
    [params.jobId ?? null],
  );
  return rows[0]!;
}

/** What tasksRequeueLapsed would take now, and what dead sessions hold (--dry-run: nothing changes). */
export async function tasksCountLapsed(db: Queryable, params: { jobId?: string }): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM tasks t
     WHERE t.status = 'processing' AND ($1::text IS NULL OR t.job_id = $1)
       AND (t.lease_until < now()
            OR t.worker IN (SELECT s.worker FROM sessions s WHERE s.session_id NOT IN (SELECT geo_live_sessions())))`,
    [params.jobId ?? null],
  );
  return rows[0]?.n ?? 0;
}
