import type { Destination } from '../config/destinations.js';
import { InputError } from '../errors.js';
import type { JobStatus } from '../statuses.js';
import type { Pool, Queryable } from './pool.js';

export interface JobRow {
  jobId: string;
  jobType: string;
  parameters: Record<string, unknown>;
  processingPath: string;
  /** Whether its task rows are its messages (its transport's queue is this database). */
  tasksAreMessages: boolean;
  /** The prefix of the job id that its task and batch ids carry. */
  idPrefix: string;
  /** Where its messages go; null for jobs written before destinations were recorded. */
  destination: Destination | null;
  status: JobStatus;
  /** Set while the job is paused (geo pause): since when. */
  pausedAt: Date | null;
  stageCount: number;
  /** Its stages' names in stage order; null for a job written before they were recorded (migration 012). */
  stageNames: string[] | null;
  createdAt: Date;
}

const JOB_COLUMNS = `job_id AS "jobId", job_type AS "jobType", parameters, processing_path AS "processingPath",
  tasks_are_messages AS "tasksAreMessages",
  id_prefix AS "idPrefix", destination, status, paused_at AS "pausedAt", stage_count AS "stageCount",
  stage_names AS "stageNames", created_at AS "createdAt"`;

/**
 * Creates the job unless it exists; returns the stored row either way, so a
 * resubmission sees the original (and its transport). ON CONFLICT without a
 * target makes both unique indexes arbiters: a second submit of this job at
 * once waits for the first's row at whichever it reaches first and inserts
 * nothing. Nothing inserted and no row of this job means the id prefix is
 * another job's (ID_COLLISION), and a colliding job writes nothing at all.
 */
export async function jobsInsert(
  db: Queryable,
  job: {
    jobId: string;
    jobType: string;
    parameters: Record<string, unknown>;
    processingPath: string;
    tasksAreMessages: boolean;
    idPrefix: string;
    destination: Destination;
    stageCount: number;
    /** In stage order; left out, the job's stages are named as they are created. */
    stageNames?: string[];
  },
): Promise<{ job: JobRow; created: boolean }> {
  const inserted = await db.query<JobRow>(
    `INSERT INTO jobs (job_id, job_type, parameters, processing_path, id_prefix, destination, stage_count, stage_names, tasks_are_messages)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT DO NOTHING
     RETURNING ${JOB_COLUMNS}`,
    [
      job.jobId,
      job.jobType,
      JSON.stringify(job.parameters),
      job.processingPath,
      job.idPrefix,
      JSON.stringify(job.destination),
      job.stageCount,
      job.stageNames ?? null,
      job.tasksAreMessages,
    ],
  );
  if (inserted.rows[0]) return { job: inserted.rows[0], created: true };
  const existing = await jobsGet(db, job.jobId);
  if (existing) return { job: existing, created: false };
  throw new InputError(
    'ID_COLLISION',
    `job ${job.jobId} shares its id prefix ${job.idPrefix} with another job; task ids would collide, so nothing was written`,
  );
}

/**
 * Removes a job and everything written for it (a submit whose job type
 * turned out not to build what it declared: nothing of it may stay). The
 * tasks go by their batches (tasks have no foreign key); the rest cascades.
 */
export async function jobsDelete(db: Queryable, jobId: string): Promise<void> {
  await db.query(
    `WITH tasks_removed AS (
       DELETE FROM tasks t USING batches b WHERE b.job_id = $1 AND t.batch_id = b.batch_id
     )
     DELETE FROM jobs WHERE job_id = $1`,
    [jobId],
  );
}

export async function jobsGet(db: Queryable, jobId: string): Promise<JobRow | undefined> {
  const { rows } = await db.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE job_id = $1`, [jobId]);
  return rows[0];
}

/** Finds jobs whose id starts with `prefix` (users paste shortened ids). */
export async function jobsFindByPrefix(db: Queryable, prefix: string, limit = 2): Promise<string[]> {
  const { rows } = await db.query<{ jobId: string }>(`SELECT job_id AS "jobId" FROM jobs WHERE job_id LIKE $1 || '%' ORDER BY job_id LIMIT $2`, [
    prefix,
    limit,
  ]);
  return rows.map((r) => r.jobId);
}

/**
 * Ends a running job `failed` because of one stage: its tasks failed, or its
 * builder or the job's result threw (`stageError`, kept on that stage, which
 * fails with it), or its job type could not be loaded. Tasks not yet started
 * and batches not yet sent are cancelled and owed messages dropped, so
 * nothing of the job runs or waits afterwards; tasks running finish and are
 * recorded, and one that would be queued again is cancelled by the
 * completion API (geo_task_job_ended). False when the job had already ended.
 *
 * Two statements in one transaction: the first takes the job row's lock,
 * which a failure or give-back reported at the same moment holds FOR SHARE
 * until it commits; the second then reads with a snapshot taken after it, so
 * it cancels a task that report queued again (one statement's snapshot,
 * taken before the wait, would miss it and leave it queued for good).
 */
export async function jobsFail(db: Pool, params: { jobId: string; stage: number; stageError?: string; errors: unknown }): Promise<boolean> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const { rowCount } = await client.query(
      `UPDATE jobs SET status = 'failed', errors = $2::jsonb, completed_at = now(), updated_at = now()
       WHERE job_id = $1 AND status = 'processing'`,
      [params.jobId, JSON.stringify(params.errors ?? null)],
    );
    if ((rowCount ?? 0) > 0) {
      await client.query(
        `WITH stage_failed AS (
           UPDATE stages s SET error = $3,
                  status = CASE WHEN s.status IN ('queuing', 'processing') THEN 'failed' ELSE s.status END,
                  completed_at = coalesce(s.completed_at, now()), claimed_until = NULL, claim_token = NULL, claim_session = NULL
           WHERE s.job_id = $1 AND s.stage = $2 AND $3::text IS NOT NULL
         ), tasks_cancelled AS (
           UPDATE tasks t SET status = 'cancelled', available_at = NULL, updated_at = now()
           FROM batches b
           WHERE b.job_id = $1 AND t.batch_id = b.batch_id AND t.status IN ('pending_queue', 'queued')
         ), batches_cancelled AS (
           UPDATE batches b SET status = 'cancelled', claimed_until = NULL, claim_token = NULL, claim_session = NULL
           WHERE b.job_id = $1 AND b.status = 'pending_queue'
         )
         DELETE FROM redeliveries r WHERE r.job_id = $1`,
        [params.jobId, params.stage, params.stageError ?? null],
      );
    }
    await client.query('COMMIT');
    return (rowCount ?? 0) > 0;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Ends a job (`completed` with its result, or `failed` with the errors that
 * failed it). Only a job still `processing` changes, so a second advancer
 * racing the first cannot overwrite it; false when it had already ended.
 */
export async function jobsFinish(
  db: Queryable,
  params: { jobId: string; status: Exclude<JobStatus, 'processing'>; result?: unknown; errors?: unknown },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE jobs SET status = $2, result = $3::jsonb, errors = $4::jsonb, completed_at = now(), updated_at = now()
     WHERE job_id = $1 AND status = 'processing'`,
    [params.jobId, params.status, JSON.stringify(params.result ?? null), JSON.stringify(params.errors ?? null)],
  );
  return (rowCount ?? 0) > 0;
}
