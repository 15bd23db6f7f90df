import type { StageStatus } from '../statuses.js';
import type { Queryable } from './pool.js';

/**
 * The outbox of finished stages (stage_completions): written by the
 * completion that finished a stage, handled by an advancer (next stage
 * queued, or job ended) under a lease, exactly once.
 */

/** A finished stage waiting for its next stage to be queued (or its job to be ended). */
export interface StageCompletionRow {
  jobId: string;
  stage: number;
  outcome: Extract<StageStatus, 'completed' | 'failed'>;
  /** Claims so far, this one included. */
  attempts: number;
  /** Earlier attempts that found the job type unknown to the advancing process. */
  unknownTypeAttempts: number;
  lastError: string | null;
  createdAt: Date;
}

/** Who claims: a run's token and, for a geo process, its session (so its death frees the claim at once). */
export interface ClaimOwner {
  token: string;
  session: number | null;
}

/**
 * Leases up to `limit` open stage completions (oldest first) to `owner`.
 * SKIP LOCKED and the lease keep two advancers off the same row; a holder
 * that dies loses it when its session ends or its lease lapses.
 */
export async function stageCompletionsClaim(params: {
  db: Queryable;
  limit: number;
  leaseSeconds: number;
  owner: ClaimOwner;
  /** Jobs to leave alone (their destination cannot be reached with this configuration). */
  excludeJobs?: readonly string[];
}): Promise<StageCompletionRow[]> {
  const { rows } = await params.db.query<StageCompletionRow>(
    `UPDATE stage_completions sc
     SET claimed_until = now() + make_interval(secs => $2), claim_token = $3, claim_session = $5, attempts = sc.attempts + 1
     FROM (SELECT job_id, stage FROM stage_completions
           WHERE handled_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
             AND NOT (job_id = ANY(coalesce($4::text[], '{}')))
             -- A paused job's next stage waits for its resume.
             AND (SELECT j.paused_at IS NULL FROM jobs j WHERE j.job_id = stage_completions.job_id)
           ORDER BY created_at LIMIT $1
           FOR UPDATE SKIP LOCKED) open
     WHERE sc.job_id = open.job_id AND sc.stage = open.stage
     RETURNING sc.job_id AS "jobId", sc.stage, sc.outcome, sc.attempts, sc.unknown_type_attempts AS "unknownTypeAttempts",
               sc.last_error AS "lastError", sc.created_at AS "createdAt"`,
    [params.limit, params.leaseSeconds, params.owner.token, params.excludeJobs ?? null, params.owner.session],
  );
  return rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

/** Extends the claim `token` holds on a stage completion while it is being acted on; false when it no longer holds it. */
export async function stageCompletionsRenew(params: { db: Queryable; jobId: string; stage: number; token: string; leaseSeconds: number }): Promise<boolean> {
  const { rowCount } = await params.db.query(
    `UPDATE stage_completions SET claimed_until = now() + make_interval(secs => $4)
     WHERE job_id = $1 AND stage = $2 AND claim_token = $3 AND handled_at IS NULL`,
    [params.jobId, params.stage, params.token, params.leaseSeconds],
  );
  return (rowCount ?? 0) > 0;
}

/** Records that a claimed stage completion was acted on; false when `token` no longer holds it. */
export async function stageCompletionsMarkHandled(params: { db: Queryable; jobId: string; stage: number; token: string }): Promise<boolean> {
  const { rowCount } = await params.db.query(
    `UPDATE stage_completions SET handled_at = now(), claimed_until = NULL, claim_token = NULL, claim_session = NULL, last_error = NULL
     WHERE job_id = $1 AND stage = $2 AND claim_token = $3 AND handled_at IS NULL`,
    [params.jobId, params.stage, params.token],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Records why handling a stage completion failed and gives the row up: it may
 * be claimed again after `retryAfterSeconds`. `unknownType` counts the
 * attempt toward giving up on a job type nobody can load. False when `token`
 * no longer holds it.
 */
export async function stageCompletionsRecordError(params: {
  db: Queryable;
  jobId: string;
  stage: number;
  token: string;
  error: string;
  retryAfterSeconds: number;
  unknownType: boolean;
}): Promise<boolean> {
  const { rowCount } = await params.db.query(
    `UPDATE stage_completions
     SET last_error = $4, claim_token = NULL, claim_session = NULL, claimed_until = now() + make_interval(secs => $5),
         unknown_type_attempts = CASE WHEN $6 THEN unknown_type_attempts + 1 ELSE 0 END
     WHERE job_id = $1 AND stage = $2 AND claim_token = $3 AND handled_at IS NULL`,
    [params.jobId, params.stage, params.token, params.error, params.retryAfterSeconds, params.unknownType],
  );
  return (rowCount ?? 0) > 0;
}

/** Stage completions not yet handled (claimed or not), of one job or of all. */
export async function stageCompletionsCountOpen(params: { db: Queryable; jobId?: string }): Promise<number> {
  const { rows } = await params.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM stage_completions WHERE handled_at IS NULL AND ($1::text IS NULL OR job_id = $1)`,
    [params.jobId ?? null],
  );
  return rows[0]?.n ?? 0;
}

/** Open stage completions that failed to advance, with why: what retry-pending reports as left. */
export async function stageCompletionsListFailing(params: {
  db: Queryable;
  jobId?: string;
}): Promise<Array<{ jobId: string; stage: number; attempts: number; lastError: string; retryAt: Date | null }>> {
  const { rows } = await params.db.query(
    `SELECT job_id AS "jobId", stage, attempts, last_error AS "lastError", claimed_until AS "retryAt"
     FROM stage_completions
     WHERE handled_at IS NULL AND last_error IS NOT NULL AND ($1::text IS NULL OR job_id = $1)
     ORDER BY created_at`,
    [params.jobId ?? null],
  );
  return rows;
}
