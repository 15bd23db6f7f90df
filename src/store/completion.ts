import type { Queryable } from './pool.js';

/**
 * Typed wrappers over the completion API (migrations/006_fenced_claims.sql),
 * for geo's own worker. Other languages call the same SQL functions
 * directly; docs/workers.md is their contract. Every report names the claim
 * it answers (a token from geo_claim_task / geo_claim_next). Leases and
 * delays are given in seconds and passed on as intervals.
 */

export type ClaimOutcome = 'claimed' | 'finished' | 'busy' | 'missing' | 'cancelled' | 'paused';
export type CompleteOutcome = 'completed' | 'duplicate' | 'stale' | 'missing';
export type FailOutcome = 'retry' | 'failed' | 'cancelled' | 'stale' | 'missing';

/** A claim's token: a bigint from the database, carried as its decimal text (it may exceed 2^53). */
export type ClaimToken = string;

export interface TaskClaim {
  outcome: ClaimOutcome;
  /** Set only when `claimed`: the token every report on this attempt names. */
  claim: ClaimToken | null;
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
  /** When a `retry` is due (geo delivers it again then). */
  retryAt: Date | null;
  stageCompleted: boolean;
}

/** A task held under a claim. */
export interface HeldClaim {
  taskId: string;
  claim: ClaimToken;
}

/** A task taken from the local queue by tasksClaimNext. */
export interface ClaimedTask extends HeldClaim {
  jobId: string;
  jobType: string;
  stage: number;
  batchId: string;
  taskType: string;
  parameters: Record<string, unknown>;
  attempt: number;
}

const CLAIM_COLUMNS = `outcome, claim::text AS claim, attempt, task_type AS "taskType", parameters`;

/** The one row a single-task function always returns. */
function onlyRow<T>(rows: T[], fn: string): T {
  const row = rows[0];
  if (!row) throw new Error(`${fn} returned no row`);
  return row;
}

/** geo_claim_task: takes one task (by the id its message carries) for one attempt. */
export async function tasksClaim(params: { db: Queryable; taskId: string; worker: string; leaseSeconds: number }): Promise<TaskClaim> {
  const { rows } = await params.db.query<TaskClaim>(`SELECT ${CLAIM_COLUMNS} FROM geo_claim_task($1, $2, make_interval(secs => $3))`, [
    params.taskId,
    params.worker,
    params.leaseSeconds,
  ]);
  return onlyRow(rows, 'geo_claim_task');
}

/** geo_claim_tasks (internal): geo_claim_task for the tasks of one receive, in one statement; keyed by task id. */
export async function tasksClaimMany(params: {
  db: Queryable;
  taskIds: readonly string[];
  worker: string;
  leaseSeconds: number;
}): Promise<Map<string, TaskClaim>> {
  if (params.taskIds.length === 0) return new Map();
  const { rows } = await params.db.query<TaskClaim & { taskId: string }>(
    `SELECT task_id AS "taskId", ${CLAIM_COLUMNS} FROM geo_claim_tasks($1::text[], $2, make_interval(secs => $3))`,
    [params.taskIds, params.worker, params.leaseSeconds],
  );
  return new Map(rows.map(({ taskId, ...claim }) => [taskId, claim]));
}

/** geo_complete_task: records the result of the attempt `claim` ran. */
export async function tasksComplete(params: { db: Queryable; taskId: string; claim: ClaimToken; resultJson: string | null }): Promise<TaskCompletion> {
  const { rows } = await params.db.query<TaskCompletion>(
    `SELECT outcome, stage_completed AS "stageCompleted" FROM geo_complete_task($1, $2::bigint, $3::jsonb)`,
    [params.taskId, params.claim, params.resultJson],
  );
  return onlyRow(rows, 'geo_complete_task');
}

/**
 * geo_complete_tasks (internal): a group of results in one statement. Each
 * result is JSON text already checked by the caller (encodeResult), so one
 * bad value cannot fail the others. Keyed by task id; a repeated id is
 * answered by its first occurrence.
 */
export async function tasksCompleteMany(params: {
  db: Queryable;
  completions: ReadonlyArray<HeldClaim & { resultJson: string | null }>;
}): Promise<Map<string, TaskCompletion>> {
  const answers = new Map<string, TaskCompletion>();
  if (params.completions.length === 0) return answers;
  const { rows } = await params.db.query<TaskCompletion & { taskId: string }>(
    `SELECT task_id AS "taskId", outcome, stage_completed AS "stageCompleted"
     FROM geo_complete_tasks($1::text[], $2::bigint[], $3::jsonb[])`,
    [params.completions.map((c) => c.taskId), params.completions.map((c) => c.claim), params.completions.map((c) => c.resultJson)],
  );
  for (const { taskId, ...answer } of rows) {
    if (!answers.has(taskId)) answers.set(taskId, answer);
  }
  return answers;
}

/**
 * geo_fail_task: records a failed attempt. `retry` (geo delivers it again at
 * `retryAt`), `failed` (final), or `stale` (the claim no longer holds the
 * task; nothing changed).
 */
export async function tasksFail(params: { db: Queryable; taskId: string; claim: ClaimToken; error: string; retryable: boolean }): Promise<TaskFailure> {
  const { rows } = await params.db.query<TaskFailure>(
    `SELECT outcome, retry_at AS "retryAt", stage_completed AS "stageCompleted" FROM geo_fail_task($1, $2::bigint, $3, $4)`,
    [params.taskId, params.claim, params.error, params.retryable],
  );
  return onlyRow(rows, 'geo_fail_task');
}

/** geo_claim_next (internal): up to `maxTasks` tasks of the local queue, of `jobTypes` only, claimed for this worker. */
export async function tasksClaimNext(params: {
  db: Queryable;
  worker: string;
  maxTasks: number;
  leaseSeconds: number;
  jobTypes: readonly string[];
}): Promise<ClaimedTask[]> {
  const { rows } = await params.db.query<ClaimedTask>(
    `SELECT task_id AS "taskId", job_id AS "jobId", job_type AS "jobType", stage, batch_id AS "batchId",
            task_type AS "taskType", parameters, claim::text AS claim, attempt
     FROM geo_claim_next($1, $2, make_interval(secs => $3), $4::text[])`,
    [params.worker, params.maxTasks, params.leaseSeconds, params.jobTypes],
  );
  return rows;
}

/** geo_renew_tasks (internal): extends the leases of claims that still hold their tasks; returns those task ids. */
export async function tasksRenew(params: { db: Queryable; held: readonly HeldClaim[]; leaseSeconds: number }): Promise<Set<string>> {
  if (params.held.length === 0) return new Set();
  const { rows } = await params.db.query<{ taskId: string }>(
    `SELECT r.task_id AS "taskId" FROM geo_renew_tasks($1::text[], $2::bigint[], make_interval(secs => $3)) AS r (task_id)`,
    [params.held.map((h) => h.taskId), params.held.map((h) => h.claim), params.leaseSeconds],
  );
  return new Set(rows.map((r) => r.taskId));
}

/**
 * geo_release_tasks (internal): gives claims back unrun (the attempt does
 * not count); geo delivers the tasks again after `delaySeconds`. Returns how
 * many were still held.
 */
export async function tasksRelease(params: { db: Queryable; held: readonly HeldClaim[]; delaySeconds?: number }): Promise<number> {
  if (params.held.length === 0) return 0;
  const { rows } = await params.db.query<{ released: number }>(`SELECT geo_release_tasks($1::text[], $2::bigint[], make_interval(secs => $3)) AS released`, [
    params.held.map((h) => h.taskId),
    params.held.map((h) => h.claim),
    params.delaySeconds ?? 0,
  ]);
  return rows[0]?.released ?? 0;
}

/**
 * geo_stage_finish (internal): adds finished tasks to a stage's counters and
 * finishes the stage when they reach its task count; true only for the call
 * that finished it. Call it with zeros for a stage of no tasks.
 */
export async function stagesFinish(params: { db: Queryable; jobId: string; stage: number; completed: number; failed: number }): Promise<boolean> {
  const { rows } = await params.db.query<{ finished: boolean }>(`SELECT geo_stage_finish($1, $2, $3, $4) AS finished`, [
    params.jobId,
    params.stage,
    params.completed,
    params.failed,
  ]);
  return rows[0]?.finished ?? false;
}
