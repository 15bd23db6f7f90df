import type { Destination } from '../config/destinations.js';
import type { JobStatus } from '../statuses.js';
import { InputError } from '../errors.js';
import type { Queryable } from './pool.js';

export interface JobRow {
  jobId: string;
  jobType: string;
  parameters: Record<string, unknown>;
  processingPath: string;
  /** The prefix of the job id that its task and batch ids carry. */
  idPrefix: string;
  /** Where its messages go; null for jobs written before destinations were recorded. */
  destination: Destination | null;
  status: JobStatus;
  stageCount: number;
  createdAt: Date;
}

const JOB_COLUMNS = `job_id AS "jobId", job_type AS "jobType", parameters, processing_path AS "processingPath",
  id_prefix AS "idPrefix", destination, status, stage_count AS "stageCount", created_at AS "createdAt"`;

/**
 * Creates the job unless it exists; returns the stored row either way, so a
 * resubmission sees the original (and its transport). A different job whose
 * id shares the id prefix is refused by the jobs_id_prefix index in this very
 * statement (ID_COLLISION), so a colliding job writes nothing at all.
 */
export async function jobsInsert(
  db: Queryable,
  job: {
    jobId: string;
    jobType: string;
    parameters: Record<string, unknown>;
    processingPath: string;
    idPrefix: string;
    destination: Destination;
    stageCount: number;
  },
): Promise<{ job: JobRow; created: boolean }> {
  const inserted = await db.query<JobRow>(
    `INSERT INTO jobs (job_id, job_type, parameters, processing_path, id_prefix, destination, stage_count)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (job_id) DO NOTHING
     RETURNING ${JOB_COLUMNS}`,
    [job.jobId, job.jobType, JSON.stringify(job.parameters), job.processingPath, job.idPrefix, JSON.stringify(job.destination), job.stageCount],
  ).catch((err: unknown) => {
    const e = err as { code?: string; constraint?: string };
    if (e.code !== '23505' || e.constraint !== 'jobs_id_prefix') throw err;
    throw new InputError(
      'ID_COLLISION',
      `job ${job.jobId} shares its id prefix ${job.idPrefix} with another job; task ids would collide, so nothing was written`,
      { cause: err },
    );
  });
  if (inserted.rows[0]) return { job: inserted.rows[0], created: true };
  const existing = await jobsGet(db, job.jobId);
  if (!existing) throw new Error(`job ${job.jobId} vanished while it was being created`);
  return { job: existing, created: false };
}

export async function jobsGet(db: Queryable, jobId: string): Promise<JobRow | undefined> {
  const { rows } = await db.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE job_id = $1`, [jobId]);
  return rows[0];
}

/** Finds jobs whose id starts with `prefix` (users paste shortened ids). */
export async function jobsFindByPrefix(db: Queryable, prefix: string, limit = 2): Promise<string[]> {
  const { rows } = await db.query<{ jobId: string }>(
    `SELECT job_id AS "jobId" FROM jobs WHERE job_id LIKE $1 || '%' ORDER BY job_id LIMIT $2`,
    [prefix, limit],
  );
  return rows.map((r) => r.jobId);
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
