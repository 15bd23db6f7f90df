import { InputError } from '../errors.js';
import type { StageStatus } from '../statuses.js';
import type { Queryable } from './pool.js';
import type { ClaimOwner } from './stage-completions.js';

export interface StageRow {
  jobId: string;
  stage: number;
  name: string;
  taskCount: number;
  batchSize: number;
  completedCount: number;
  failedCount: number;
  status: StageStatus;
}

const STAGE_COLUMNS = `job_id AS "jobId", stage, name, task_count AS "taskCount", batch_size AS "batchSize",
  completed_count AS "completedCount", failed_count AS "failedCount", status`;

export interface NewStage {
  jobId: string;
  stage: number;
  name: string;
  taskCount: number;
  batchSize: number;
  retry: { maxRetries: number; baseMs: number; maxMs: number };
  acceptPartial: boolean;
  /** The writer's lease: retry-pending leaves a stage alone while a live writer renews it. */
  leaseSeconds: number;
  /** The writer's session, so its death frees the stage at once (none: its lease alone holds the stage). */
  session?: number | null;
}

/**
 * Creates the stage row unless it exists and returns the stored one: its
 * batch size, fixed by the first dispatch, keeps batch ids stable on resume.
 * A new stage is created only for a job still running, read under FOR SHARE
 * on its row: a cancel (or any end) that committed first leaves nothing to
 * create (JOB_ENDED), and one that comes later waits for this statement, so
 * no stage is ever created after its job's cancel committed
 * (test/control/race.test.ts: an advancer that read the job running before
 * the cancel did so otherwise).
 */
export async function stagesEnsure(db: Queryable, stage: NewStage): Promise<StageRow> {
  const { rows } = await db.query<StageRow>(
    `WITH job AS (
       SELECT job_id FROM jobs WHERE job_id = $1 AND status = 'processing' FOR SHARE
     ), inserted AS (
       INSERT INTO stages (job_id, stage, name, task_count, batch_size, max_retries, retry_base_ms, retry_max_ms,
                           accept_partial, claimed_until, claim_session)
       SELECT job.job_id, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10), $11 FROM job
       ON CONFLICT (job_id, stage) DO NOTHING
       RETURNING ${STAGE_COLUMNS}
     )
     SELECT * FROM inserted
     UNION ALL
     SELECT ${STAGE_COLUMNS} FROM stages WHERE job_id = $1 AND stage = $2`,
    [
      stage.jobId,
      stage.stage,
      stage.name,
      stage.taskCount,
      stage.batchSize,
      stage.retry.maxRetries,
      stage.retry.baseMs,
      stage.retry.maxMs,
      stage.acceptPartial,
      stage.leaseSeconds,
      stage.session ?? null,
    ],
  );
  // Empty when a concurrent creator committed after this statement's snapshot, or the job has ended.
  const row = rows[0] ?? (await stagesGet(db, stage.jobId, stage.stage));
  if (row) return row;
  const { rows: job } = await db.query<{ status: string }>(`SELECT status FROM jobs WHERE job_id = $1`, [stage.jobId]);
  if (job[0] && job[0].status !== 'processing') {
    throw new InputError('JOB_ENDED', `job ${stage.jobId.slice(0, 16)} has ${job[0].status}; its stage ${stage.stage} is not created`);
  }
  throw new Error(`stage ${stage.stage} of job ${stage.jobId} vanished while it was being created`);
}

export async function stagesGet(db: Queryable, jobId: string, stage: number): Promise<StageRow | undefined> {
  const { rows } = await db.query<StageRow>(`SELECT ${STAGE_COLUMNS} FROM stages WHERE job_id = $1 AND stage = $2`, [jobId, stage]);
  return rows[0];
}

/**
 * A live writer's heartbeat on a stage it is writing. Several writers (two
 * submits of one job) may share it: batches, not stages, are what they must
 * never write twice, and the batch claims see to that.
 */
export async function stagesRenewWriting(db: Queryable, params: { jobId: string; stage: number; leaseSeconds: number; session: number | null }): Promise<void> {
  await db.query(
    `UPDATE stages SET claimed_until = now() + make_interval(secs => $3), claim_session = $4
     WHERE job_id = $1 AND stage = $2 AND status = 'queuing'`,
    [params.jobId, params.stage, params.leaseSeconds, params.session],
  );
}

/**
 * A writer that stops before the stage is written gives its heartbeat up, so
 * retry-pending can finish the stage at once instead of a lease later. A
 * writer still at work renews it within a third of a lease.
 */
export async function stagesReleaseWriting(db: Queryable, params: { jobId: string; stage: number }): Promise<void> {
  await db.query(`UPDATE stages SET claimed_until = NULL WHERE job_id = $1 AND stage = $2 AND status = 'queuing'`, [params.jobId, params.stage]);
}

/**
 * Records that every task of the stage is written (`queuing` ->
 * `processing`). `taskCount` is the number the builder actually produced:
 * when it differs from the declared count, the stored count follows it so
 * the stage can still finish. False when the stage had already left `queuing`.
 */
export async function stagesMarkWritten(db: Queryable, params: { jobId: string; stage: number; taskCount: number }): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE stages SET status = 'processing', written_at = now(), task_count = $3, claimed_until = NULL, claim_token = NULL,
            claim_session = NULL
     WHERE job_id = $1 AND stage = $2 AND status = 'queuing'`,
    [params.jobId, params.stage, params.taskCount],
  );
  return (rowCount ?? 0) > 0;
}

export interface UnwrittenStage {
  jobId: string;
  stage: number;
}

/**
 * Claims stages whose writing stopped half-way (`queuing`, no live writer's
 * lease) for retry-pending to finish, for `owner`. Stages of
 * `excludeJobs` (destinations this run cannot reach) are never claimed: that
 * would be a write, and would hold them for a lease as if a writer were live.
 */
export async function stagesClaimUnwritten(
  db: Queryable,
  params: { leaseSeconds: number; owner: ClaimOwner; limit: number; jobId?: string; transport?: string; excludeJobs?: string[] },
): Promise<UnwrittenStage[]> {
  const { rows } = await db.query<UnwrittenStage>(
    `WITH due AS (
       SELECT s.job_id, s.stage FROM stages s JOIN jobs j ON j.job_id = s.job_id
       WHERE s.status = 'queuing' AND (s.claimed_until IS NULL OR s.claimed_until < now()) AND j.status = 'processing'
         AND ($4::text IS NULL OR s.job_id = $4) AND ($5::text IS NULL OR j.processing_path = $5)
         AND NOT (s.job_id = ANY(coalesce($6::text[], '{}')))
       ORDER BY s.created_at LIMIT $3 FOR UPDATE OF s SKIP LOCKED
     )
     UPDATE stages s SET claimed_until = now() + make_interval(secs => $1), claim_token = $2, claim_session = $7
     FROM due WHERE s.job_id = due.job_id AND s.stage = due.stage
     RETURNING s.job_id AS "jobId", s.stage`,
    [params.leaseSeconds, params.owner.token, params.limit, params.jobId ?? null, params.transport ?? null, params.excludeJobs ?? null, params.owner.session],
  );
  return rows;
}

/** Who writes a stage: a live geo process's session, when the claim names one. */
export interface StageWriter {
  host: string;
  pid: number;
}

/** Stages still being written, with who holds them; what retry-pending reports when it leaves them. */
export async function stagesListUnwritten(
  db: Queryable,
  params: { jobId?: string; transport?: string },
): Promise<
  Array<UnwrittenStage & { expectedTasks: number; writtenTasks: number; heldByLiveWriter: boolean; writer: StageWriter | null; leaseUntil: Date | null }>
> {
  const { rows } = await db.query(
    `SELECT s.job_id AS "jobId", s.stage, s.task_count AS "expectedTasks",
            coalesce((SELECT sum(b.task_count) FROM batches b WHERE b.job_id = s.job_id AND b.stage = s.stage), 0)::int AS "writtenTasks",
            coalesce(s.claimed_until > now(), false) AS "heldByLiveWriter",
            CASE WHEN w.session_id IS NOT NULL THEN json_build_object('host', w.host, 'pid', w.pid) END AS writer,
            s.claimed_until AS "leaseUntil"
     FROM stages s JOIN jobs j ON j.job_id = s.job_id
     LEFT JOIN sessions w ON w.session_id = s.claim_session AND s.claimed_until > now()
     WHERE s.status = 'queuing' AND j.status = 'processing' AND ($1::text IS NULL OR s.job_id = $1) AND ($2::text IS NULL OR j.processing_path = $2)
     ORDER BY s.created_at`,
    [params.jobId ?? null, params.transport ?? null],
  );
  return rows;
}

/** Gives a claimed stage back (retry-pending could not finish it this run). */
export async function stagesReleaseClaim(db: Queryable, params: { jobId: string; stage: number; claimToken: string }): Promise<void> {
  await db.query(
    `UPDATE stages SET claimed_until = NULL, claim_token = NULL, claim_session = NULL
     WHERE job_id = $1 AND stage = $2 AND claim_token = $3`,
    [params.jobId, params.stage, params.claimToken],
  );
}
