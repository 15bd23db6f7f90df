import type { StageStatus } from '../statuses.js';
import type { Queryable } from './pool.js';

/**
 * Typed wrappers over the completion API (migrations/005_completion_api.sql),
 * for geo's own worker and the stage advancer. Other languages call the same
 * SQL functions directly; the README's "Completion API" section is their
 * contract. Leases are given in seconds (GEO_LEASE_SECONDS) and passed on as
 * intervals.
 */

export type ClaimOutcome = 'claimed' | 'finished' | 'busy' | 'missing';
export type CompleteOutcome = 'completed' | 'duplicate' | 'missing';
export type FailOutcome = 'retry' | 'failed' | 'stale' | 'missing';

export interface TaskClaim {
  outcome: ClaimOutcome;
  /** The attempt this claim is (1 on the first); set only when `claimed`. */
  attempt: number | null;
  taskType: string | null;
  parameters: Record<string, unknown> | null;
}

export interface TaskCompletion {
  outcome: CompleteOutcome;
  /** True for exactly one call per stage: the one that finished it. */
  stageCompleted: boolean;
}

export interface TaskFailure {
  outcome: FailOutcome;
  /** When a `retry` is due (deliver the task again then). */
  retryAt: Date | null;
  stageCompleted: boolean;
}

/** A task taken from the local queue by tasksClaimNext. */
export interface ClaimedTask {
  taskId: string;
  jobId: string;
  jobType: string;
  stage: number;
  batchId: string;
  taskType: string;
  parameters: Record<string, unknown>;
  attempt: number;
}

/**
 * A task result as jsonb text. `undefined` becomes SQL NULL; anything else is
 * encoded here, because node-pg would turn a top-level array into a PostgreSQL
 * array and pass a bare string through unquoted.
 */
function jsonText(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/** The one row a single-task function always returns. */
function onlyRow<T>(rows: T[], fn: string): T {
  const row = rows[0];
  if (!row) throw new Error(`${fn} returned no row`);
  return row;
}

/** geo_claim_task: takes one task (by the id its message carries) for one attempt. */
export async function tasksClaim(params: { db: Queryable; taskId: string; worker: string; leaseSeconds: number }): Promise<TaskClaim> {
  const { rows } = await params.db.query<TaskClaim>(
    `SELECT outcome, attempt, task_type AS "taskType", parameters
     FROM geo_claim_task($1, $2, make_interval(secs => $3))`,
    [params.taskId, params.worker, params.leaseSeconds],
  );
  return onlyRow(rows, 'geo_claim_task');
}

/** geo_complete_task: records the result; `duplicate` when the task was already finished. */
export async function tasksComplete(params: { db: Queryable; taskId: string; result: unknown }): Promise<TaskCompletion> {
  const { rows } = await params.db.query<TaskCompletion>(
    `SELECT outcome, stage_completed AS "stageCompleted" FROM geo_complete_task($1, $2::jsonb)`,
    [params.taskId, jsonText(params.result)],
  );
  return onlyRow(rows, 'geo_complete_task');
}

/**
 * geo_fail_task: records a failed attempt. `retry` (queued again at
 * `retryAt`), `failed` (final), or `stale` (that attempt no longer holds the
 * task; nothing changed).
 */
export async function tasksFail(params: {
  db: Queryable;
  taskId: string;
  error: string;
  attempt: number;
  retryable: boolean;
}): Promise<TaskFailure> {
  const { rows } = await params.db.query<TaskFailure>(
    `SELECT outcome, retry_at AS "retryAt", stage_completed AS "stageCompleted" FROM geo_fail_task($1, $2, $3, $4)`,
    [params.taskId, params.error, params.attempt, params.retryable],
  );
  return onlyRow(rows, 'geo_fail_task');
}

/** geo_claim_next: up to `maxTasks` tasks of local-transport jobs, claimed for this worker. */
export async function tasksClaimNext(params: {
  db: Queryable;
  worker: string;
  maxTasks: number;
  leaseSeconds: number;
}): Promise<ClaimedTask[]> {
  const { rows } = await params.db.query<ClaimedTask>(
    `SELECT task_id AS "taskId", job_id AS "jobId", job_type AS "jobType", stage, batch_id AS "batchId",
            task_type AS "taskType", parameters, attempt
     FROM geo_claim_next($1, $2, make_interval(secs => $3))`,
    [params.worker, params.maxTasks, params.leaseSeconds],
  );
  return rows;
}

/**
 * geo_complete_tasks (internal): a group of results in one statement. The
 * answer is keyed by task id; a repeated id is answered by its first
 * occurrence (`completed` or not), as the function counts it once.
 */
export async function tasksCompleteMany(params: {
  db: Queryable;
  completions: ReadonlyArray<{ taskId: string; result: unknown }>;
}): Promise<Map<string, TaskCompletion>> {
  const answers = new Map<string, TaskCompletion>();
  if (params.completions.length === 0) return answers;
  const { rows } = await params.db.query<TaskCompletion & { taskId: string }>(
    `SELECT task_id AS "taskId", outcome, stage_completed AS "stageCompleted" FROM geo_complete_tasks($1::text[], $2::jsonb[])`,
    [params.completions.map((c) => c.taskId), params.completions.map((c) => jsonText(c.result))],
  );
  for (const { taskId, ...answer } of rows) {
    if (!answers.has(taskId)) answers.set(taskId, answer);
  }
  return answers;
}

/** geo_renew_tasks (internal): extends this worker's leases; returns the ids it still holds. */
export async function tasksRenew(params: {
  db: Queryable;
  worker: string;
  taskIds: readonly string[];
  leaseSeconds: number;
}): Promise<Set<string>> {
  if (params.taskIds.length === 0) return new Set();
  const { rows } = await params.db.query<{ taskId: string }>(
    `SELECT r.task_id AS "taskId" FROM geo_renew_tasks($1, $2::text[], make_interval(secs => $3)) AS r (task_id)`,
    [params.worker, params.taskIds, params.leaseSeconds],
  );
  return new Set(rows.map((r) => r.taskId));
}

/** geo_release_tasks (internal): gives claimed, unstarted tasks back to the queue; returns how many. */
export async function tasksRelease(params: { db: Queryable; worker: string; taskIds: readonly string[] }): Promise<number> {
  if (params.taskIds.length === 0) return 0;
  const { rows } = await params.db.query<{ released: number }>(`SELECT geo_release_tasks($1, $2::text[]) AS released`, [
    params.worker,
    params.taskIds,
  ]);
  return rows[0]?.released ?? 0;
}

/**
 * geo_stage_finish (internal): adds finished tasks to a stage's counters and
 * finishes the stage when they reach its task count; true only for the call
 * that finished it. Call it with zeros for a stage of no tasks.
 */
export async function stagesFinish(params: {
  db: Queryable;
  jobId: string;
  stage: number;
  completed: number;
  failed: number;
}): Promise<boolean> {
  const { rows } = await params.db.query<{ finished: boolean }>(`SELECT geo_stage_finish($1, $2, $3, $4) AS finished`, [
    params.jobId,
    params.stage,
    params.completed,
    params.failed,
  ]);
  return rows[0]?.finished ?? false;
}

/** A finished stage waiting for its next stage to be queued (or its job to be completed). */
export interface StageCompletionRow {
  jobId: string;
  stage: number;
  outcome: Extract<StageStatus, 'completed' | 'failed'>;
  /** Claims so far, this one included. */
  attempts: number;
  lastError: string | null;
  createdAt: Date;
}

/**
 * Leases up to `limit` open stage completions (oldest first) to the holder of
 * `token`. SKIP LOCKED and the lease keep two advancers off the same row; a
 * holder that dies loses it when the lease lapses.
 */
export async function stageCompletionsClaim(params: {
  db: Queryable;
  limit: number;
  leaseSeconds: number;
  token: string;
  /** Jobs to leave alone (their destination cannot be reached with this configuration). */
  excludeJobs?: readonly string[];
}): Promise<StageCompletionRow[]> {
  const { rows } = await params.db.query<StageCompletionRow>(
    `UPDATE stage_completions sc
     SET claimed_until = now() + make_interval(secs => $2), claim_token = $3, attempts = sc.attempts + 1
     FROM (SELECT job_id, stage FROM stage_completions
           WHERE handled_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
             AND NOT (job_id = ANY(coalesce($4::text[], '{}')))
           ORDER BY created_at LIMIT $1
           FOR UPDATE SKIP LOCKED) open
     WHERE sc.job_id = open.job_id AND sc.stage = open.stage
     RETURNING sc.job_id AS "jobId", sc.stage, sc.outcome, sc.attempts, sc.last_error AS "lastError", sc.created_at AS "createdAt"`,
    [params.limit, params.leaseSeconds, params.token, params.excludeJobs ?? null],
  );
  return rows.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
}

/** Records that a claimed stage completion was acted on; false when `token` no longer holds it. */
export async function stageCompletionsMarkHandled(params: { db: Queryable; jobId: string; stage: number; token: string }): Promise<boolean> {
  const { rowCount } = await params.db.query(
    `UPDATE stage_completions SET handled_at = now(), claimed_until = NULL, last_error = NULL
     WHERE job_id = $1 AND stage = $2 AND claim_token = $3 AND handled_at IS NULL`,
    [params.jobId, params.stage, params.token],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * Records why handling a stage completion failed and gives the row up: it may
 * be claimed again after `retryAfterSeconds`. False when `token` no longer
 * holds it.
 */
export async function stageCompletionsRecordError(params: {
  db: Queryable;
  jobId: string;
  stage: number;
  token: string;
  error: string;
  retryAfterSeconds: number;
}): Promise<boolean> {
  const { rowCount } = await params.db.query(
    `UPDATE stage_completions
     SET last_error = $4, claim_token = NULL, claimed_until = now() + make_interval(secs => $5)
     WHERE job_id = $1 AND stage = $2 AND claim_token = $3 AND handled_at IS NULL`,
    [params.jobId, params.stage, params.token, params.error, params.retryAfterSeconds],
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
