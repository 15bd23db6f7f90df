import crypto from 'node:crypto';
import type { TransportName } from '../../../src/config/index.js';
import { batchIdFor, idPrefixFor, jobIdFor, taskIdFor } from '../../../src/core/ids.js';
import { DEFAULT_RETRY_POLICY } from '../../../src/core/job-types/job-type.js';
import { newClaimOwner } from '../../../src/core/protocol/leases.js';
import { batchesInsert, type NewBatch } from '../../../src/store/batches.js';
import { tasksClaim, tasksComplete } from '../../../src/store/completion.js';
import { jobsInsert } from '../../../src/store/jobs.js';
import type { Queryable } from '../../../src/store/pool.js';
import { stagesEnsure, stagesMarkWritten } from '../../../src/store/stages.js';

export interface StageFixture {
  jobId: string;
  stage: number;
  taskIds: string[];
}

export interface StageSpec {
  stage?: number;
  taskCount: number;
  /** Stored task status: `queued` (the local transport writes that) or `pending_queue`. */
  taskStatus?: 'queued' | 'pending_queue';
  maxRetries?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  acceptPartial?: boolean;
}

/** A job of its own (random parameters, so a fresh id) on `transport`, with no stages yet. */
export async function createJob(db: Queryable, params: { transport?: TransportName; stageCount?: number } = {}): Promise<string> {
  const parameters = { fixture: crypto.randomUUID() };
  const jobId = jobIdFor('hello_world', parameters);
  const transport = params.transport ?? 'local';
  await jobsInsert(db, {
    jobId,
    jobType: 'hello_world',
    parameters,
    processingPath: transport,
    tasksAreMessages: transport === 'local',
    idPrefix: idPrefixFor(jobId),
    destination: { transport },
    stageCount: params.stageCount ?? 1,
  });
  return jobId;
}

/** Writes a stage and its tasks through the producer's own store functions. */
export async function addStage(db: Queryable, jobId: string, spec: StageSpec): Promise<StageFixture> {
  const stage = spec.stage ?? 1;
  const prefix = idPrefixFor(jobId);
  await stagesEnsure(db, {
    jobId,
    stage,
    name: `stage-${stage}`,
    taskCount: spec.taskCount,
    batchSize: 100,
    retry: {
      maxRetries: spec.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries,
      baseMs: spec.retryBaseMs ?? DEFAULT_RETRY_POLICY.baseMs,
      maxMs: spec.retryMaxMs ?? DEFAULT_RETRY_POLICY.maxMs,
    },
    acceptPartial: spec.acceptPartial ?? false,
    leaseSeconds: 60,
    session: null,
  });
  const job = await db.query<{ transport: string }>(`SELECT processing_path AS transport FROM jobs WHERE job_id = $1`, [jobId]);
  const transport = job.rows[0]!.transport;
  const taskIds: string[] = [];
  const batches: NewBatch[] = [];
  for (let start = 0; start < spec.taskCount; start += 100) {
    const tasks = [];
    for (let i = start; i < Math.min(start + 100, spec.taskCount); i++) {
      const taskId = taskIdFor(prefix, stage, `t-${i}`);
      taskIds.push(taskId);
      tasks.push({ taskId, taskIndex: i, parameters: { i } });
    }
    batches.push({
      batchId: batchIdFor(prefix, stage, start / 100),
      jobId,
      stage,
      batchIndex: start / 100,
      taskType: 'work',
      transport,
      tasks,
    });
  }
  if (batches.length > 0) {
    await batchesInsert(db, { batches, queued: (spec.taskStatus ?? 'queued') === 'queued', leaseSeconds: 60, owner: newClaimOwner(null) });
  }
  await stagesMarkWritten(db, { jobId, stage, taskCount: spec.taskCount });
  return { jobId, stage, taskIds };
}

/** A one-stage job with `spec.taskCount` tasks. */
export async function createStage(db: Queryable, spec: StageSpec & { transport?: TransportName }): Promise<StageFixture> {
  return addStage(db, await createJob(db, { transport: spec.transport }), spec);
}

export interface TaskState {
  status: string;
  worker: string | null;
  attempt: number;
  claim: string | null;
  leaseUntil: Date | null;
  availableAt: Date | null;
  startedAt: Date | null;
  result: unknown;
  error: string | null;
}

export async function taskState(db: Queryable, taskId: string): Promise<TaskState> {
  const { rows } = await db.query<TaskState>(
    `SELECT status, worker, attempt, claim::text AS claim, lease_until AS "leaseUntil", available_at AS "availableAt", started_at AS "startedAt",
            result, error
     FROM tasks WHERE task_id = $1`,
    [taskId],
  );
  if (!rows[0]) throw new Error(`no task ${taskId}`);
  return rows[0];
}

export interface StageState {
  status: string;
  completedCount: number;
  failedCount: number;
  taskCount: number;
  completedAt: Date | null;
  outbox: Array<{ outcome: string; handledAt: Date | null }>;
}

/** The stage row's counters and status, with its stage_completions rows. */
export async function stageState(db: Queryable, jobId: string, stage = 1): Promise<StageState> {
  const { rows } = await db.query<Omit<StageState, 'outbox'>>(
    `SELECT status, completed_count AS "completedCount", failed_count AS "failedCount", task_count AS "taskCount",
            completed_at AS "completedAt"
     FROM stages WHERE job_id = $1 AND stage = $2`,
    [jobId, stage],
  );
  if (!rows[0]) throw new Error(`no stage ${stage} of ${jobId}`);
  const outbox = await db.query<{ outcome: string; handledAt: Date | null }>(
    `SELECT outcome, handled_at AS "handledAt" FROM stage_completions WHERE job_id = $1 AND stage = $2`,
    [jobId, stage],
  );
  return { ...rows[0], outbox: outbox.rows };
}

/** The database's clock (the functions' now() is a transaction's start on it). */
export async function dbNow(db: Queryable): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>('SELECT clock_timestamp() AS now');
  return rows[0]!.now;
}

/** Claims a task for `worker` and returns its claim token (the claim must succeed). */
export async function claimTask(db: Queryable, taskId: string, worker = 'w1', leaseSeconds = 30): Promise<string> {
  const claim = await tasksClaim({ db, taskId, worker, leaseSeconds });
  if (claim.outcome !== 'claimed') throw new Error(`claim of ${taskId} answered ${claim.outcome}`);
  return claim.claim!;
}

/** Completes a task under `claim` with `result` (any JSON value; undefined is none). */
export function completeTask(db: Queryable, taskId: string, claim: string, result: unknown = null) {
  return tasksComplete({ db, taskId, claim, resultJson: result === undefined ? null : JSON.stringify(result) });
}

/** Makes a task's lease lapse now, as if its worker stopped renewing. */
export async function lapseLease(db: Queryable, taskId: string): Promise<void> {
  await db.query(`UPDATE tasks SET lease_until = now() - interval '1 second' WHERE task_id = $1`, [taskId]);
}
