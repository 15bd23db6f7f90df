import type { JobStatus } from '../statuses.js';
import type { PoolClient, Queryable } from './pool.js';

/**
 * Deleting finished jobs (geo prune) in short transactions. Tasks have no
 * foreign key, so they go by their batches, a bounded number of batches per
 * statement (each statement its own transaction); the job row goes last and
 * takes its stages and outbox rows with it. Every statement locks only rows of
 * the job being pruned, and with SKIP LOCKED where another process may hold
 * one, so a running job's claims and completions never wait for a prune.
 */

export interface PruneCandidate {
  jobId: string;
  jobType: string;
  status: JobStatus;
  finishedAt: Date;
  /** Its stages' task counts. */
  tasks: number;
  /** Set when an earlier prune began deleting it (and was stopped). */
  pruneStartedAt: Date | null;
  /** finishedAt in microseconds since the epoch (a Date keeps only milliseconds): the paging cursor. */
  finishedMicros: string;
}

export interface CandidatesCursor {
  finishedMicros: string;
  jobId: string;
}

/**
 * Finished jobs of `statuses` that ended before `cutoff`, oldest first, after
 * `after` (keyset, so a job skipped once is not read again by the same run).
 * A job without completed_at (written before 004) counts from its last update.
 */
export async function pruneCandidates(
  db: Queryable,
  params: { statuses: readonly JobStatus[]; cutoff: Date; after?: CandidatesCursor; limit: number },
): Promise<PruneCandidate[]> {
  const { rows } = await db.query<PruneCandidate>(
    `SELECT j.job_id AS "jobId", j.job_type AS "jobType", j.status, coalesce(j.completed_at, j.updated_at) AS "finishedAt",
            coalesce((SELECT sum(s.task_count) FROM stages s WHERE s.job_id = j.job_id), 0)::bigint::float8 AS tasks,
            j.prune_started_at AS "pruneStartedAt",
            (extract(epoch FROM coalesce(j.completed_at, j.updated_at)) * 1000000)::bigint::text AS "finishedMicros"
     FROM jobs j
     WHERE j.status = ANY($1::text[]) AND j.status <> 'processing' AND coalesce(j.completed_at, j.updated_at) < $2
       AND ($3::bigint IS NULL
            OR (coalesce(j.completed_at, j.updated_at), j.job_id) > ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::text))
     ORDER BY coalesce(j.completed_at, j.updated_at), j.job_id
     LIMIT $5`,
    [params.statuses, params.cutoff, params.after?.finishedMicros ?? null, params.after?.jobId ?? null, params.limit],
  );
  return rows;
}

/** Advisory lock class of a job being pruned (sessions use 4250002, migrations 4250001). */
const PRUNE_LOCK_CLASS = 4_250_003;

/**
 * Takes the job for this prune, or answers false when another prune has it.
 * A session-level advisory lock on `client`, a connection the prune keeps:
 * a prune that dies drops it with its connection, and the next prune goes on
 * where it stopped. Two jobs whose ids hash alike only take turns.
 */
export async function pruneTryLock(client: PoolClient, jobId: string): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked`, [PRUNE_LOCK_CLASS, jobId]);
  return rows[0]!.locked;
}

export async function pruneUnlock(client: PoolClient, jobId: string): Promise<void> {
  await client.query(`SELECT pg_advisory_unlock($1, hashtext($2))`, [PRUNE_LOCK_CLASS, jobId]);
}

/** When a prune began deleting the job (null: none has); undefined when the job is gone. */
export async function pruneStartedAt(db: Queryable, jobId: string): Promise<Date | null | undefined> {
  const { rows } = await db.query<{ at: Date | null }>(`SELECT prune_started_at AS at FROM jobs WHERE job_id = $1`, [jobId]);
  return rows[0]?.at;
}

export type PruneBeginOutcome = 'begun' | 'running-tasks' | 'not-finished' | 'missing';

/**
 * Marks the job as being deleted, if it is still finished, of `statuses`,
 * ended before `cutoff`, and none of its tasks is running (a cancelled job's
 * tasks finish as they would). The mark is taken on the job row locked as
 * geo_retry_failed locks it (FOR NO KEY UPDATE): a job reopened first is not
 * marked, and a marked job is never reopened (migrations/009).
 */
export async function pruneBegin(db: Queryable, params: { jobId: string; statuses: readonly JobStatus[]; cutoff: Date }): Promise<PruneBeginOutcome> {
  const { rows } = await db.query<{ outcome: PruneBeginOutcome }>(
    `WITH job AS (
       SELECT j.job_id, j.status = ANY($2::text[]) AND j.status <> 'processing' AND coalesce(j.completed_at, j.updated_at) < $3 AS finished,
              EXISTS (SELECT 1 FROM tasks t WHERE t.status = 'processing' AND t.job_id = j.job_id) AS running
       FROM jobs j WHERE j.job_id = $1
       FOR NO KEY UPDATE
     ), marked AS (
       UPDATE jobs j SET prune_started_at = coalesce(j.prune_started_at, now())
       FROM job WHERE j.job_id = job.job_id AND job.finished AND NOT job.running
       RETURNING j.job_id
     )
     SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM job) THEN 'missing'
                 WHEN EXISTS (SELECT 1 FROM marked) THEN 'begun'
                 WHEN (SELECT finished FROM job) THEN 'running-tasks'
                 ELSE 'not-finished' END AS outcome`,
    [params.jobId, params.statuses, params.cutoff],
  );
  return rows[0]!.outcome;
}

/** Deletes up to `limit` of a marked job's owed messages (rows a cancel or a failure left). */
export async function pruneRedeliveries(db: Queryable, params: { jobId: string; limit: number }): Promise<number> {
  const { rowCount } = await db.query(
    `DELETE FROM redeliveries r
     WHERE r.task_id IN (
       SELECT x.task_id FROM redeliveries x JOIN jobs j ON j.job_id = x.job_id
       WHERE x.job_id = $1 AND j.prune_started_at IS NOT NULL
       LIMIT $2 FOR UPDATE OF x SKIP LOCKED
     )`,
    [params.jobId, params.limit],
  );
  return rowCount ?? 0;
}

/**
 * Deletes up to `maxBatches` batches of a marked job and their tasks in one
 * statement (one short transaction). Batches another process holds are
 * skipped (SKIP LOCKED) and taken by a later call; `left` says whether any
 * batch of the job remains after this one.
 */
export async function pruneBatches(db: Queryable, params: { jobId: string; maxBatches: number }): Promise<{ batches: number; tasks: number; left: boolean }> {
  const { rows } = await db.query<{ batches: number; tasks: number; left: boolean }>(
    `WITH picked AS (
       SELECT b.batch_id FROM batches b JOIN jobs j ON j.job_id = b.job_id
       WHERE b.job_id = $1 AND j.prune_started_at IS NOT NULL
       ORDER BY b.stage, b.batch_index LIMIT $2
       FOR UPDATE OF b SKIP LOCKED
     ), tasks_deleted AS (
       DELETE FROM tasks t USING picked p WHERE t.batch_id = p.batch_id RETURNING 1
     ), batches_deleted AS (
       DELETE FROM batches b USING picked p WHERE b.batch_id = p.batch_id RETURNING 1
     )
     SELECT (SELECT count(*) FROM batches_deleted)::int AS batches, (SELECT count(*) FROM tasks_deleted)::int AS tasks,
            EXISTS (SELECT 1 FROM batches b WHERE b.job_id = $1 AND b.batch_id NOT IN (SELECT batch_id FROM picked)) AS left`,
    [params.jobId, params.maxBatches],
  );
  return rows[0]!;
}

/** Deletes the marked job's row; its stages, outbox rows and anything left cascade. False when it was gone. */
export async function pruneJobRow(db: Queryable, jobId: string): Promise<boolean> {
  const { rowCount } = await db.query(`DELETE FROM jobs WHERE job_id = $1 AND prune_started_at IS NOT NULL`, [jobId]);
  return (rowCount ?? 0) > 0;
}

export interface TableSizes {
  /** pg_total_relation_size: the table with its indexes and TOAST, in bytes. */
  tasks: number;
  batches: number;
}

export async function tableSizes(db: Queryable): Promise<TableSizes> {
  const { rows } = await db.query<TableSizes>(`SELECT pg_total_relation_size('tasks')::float8 AS tasks, pg_total_relation_size('batches')::float8 AS batches`);
  return rows[0]!;
}
