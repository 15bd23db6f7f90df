import type { TransportName } from '../config/index.js';
import { errorMessage, GeoError, InputError } from '../errors.js';
import {
  type CancelOutcome,
  jobsCancel,
  jobsPause,
  jobsResume,
  jobsRetryFailed,
  type PauseOutcome,
  type ResumeOutcome,
  type RetryFailedOutcome,
  redeliveriesDropOfEndedJob,
  redeliveriesScheduledOf,
  tasksCancelOfEndedJob,
} from '../store/control.js';
import type { JobRow } from '../store/jobs.js';
import type { Pool } from '../store/pool.js';
import type { TransportResolver } from './protocol/job-transport.js';

/** Batches of an ended job whose unstarted tasks are marked cancelled per short transaction. */
const CANCEL_CHUNK_BATCHES = 100;

export interface CancelResult {
  jobId: string;
  outcome: CancelOutcome;
  /** How long the statement that ended the job took (ms): from then on nothing of it starts. */
  statementMs: number;
  /** Unstarted task rows marked cancelled afterwards (bookkeeping: none of them could run anyway). */
  tasksCancelled: number;
  /** Messages geo had scheduled for later (retries) withdrawn at the broker. */
  scheduledWithdrawn: number;
  /** Why withdrawing them failed, when it did (they then run into a claim that answers `cancelled`). */
  withdrawError?: string;
  elapsedMs: number;
}

/**
 * `geo cancel`: ends the job `cancelled` in one statement (with `stage`, that
 * stage is recorded as the cancelled one). From its commit on no handler
 * starts for any of its tasks on any transport: every claim reads the job.
 * Then, as bookkeeping that may be interrupted and is finished by any later
 * cancel: its unstarted task rows and unsent batches are marked cancelled in
 * short chunks, messages geo scheduled for later are withdrawn where the
 * broker allows, and owed messages are dropped. Cancelling twice is a no-op;
 * a job that had completed or failed is left as it was (the caller says so).
 */
export async function cancelJob(params: {
  db: Pool;
  transportFor: TransportResolver;
  job: JobRow;
  stage?: number;
  reason?: string;
  signal?: AbortSignal;
  onProgress?: (tasksCancelled: number) => void;
}): Promise<CancelResult> {
  const { db, job } = params;
  const started = performance.now();
  const outcome = await jobsCancel(db, { jobId: job.jobId, stage: params.stage, reason: params.reason });
  const statementMs = performance.now() - started;
  const result: CancelResult = { jobId: job.jobId, outcome, statementMs, tasksCancelled: 0, scheduledWithdrawn: 0, elapsedMs: 0 };
  if (outcome === 'cancelled' || outcome === 'already-cancelled') {
    let afterBatch: string | undefined;
    while (!params.signal?.aborted) {
      const chunk = await tasksCancelOfEndedJob(db, { jobId: job.jobId, maxBatches: CANCEL_CHUNK_BATCHES, afterBatch });
      if (chunk.lastBatch === undefined) break;
      afterBatch = chunk.lastBatch;
      result.tasksCancelled += chunk.cancelled;
      params.onProgress?.(result.tasksCancelled);
    }
    await withdrawScheduled(params.transportFor, db, job, result);
  }
  result.elapsedMs = performance.now() - started;
  return result;
}

async function withdrawScheduled(transportFor: TransportResolver, db: Pool, job: JobRow, result: CancelResult): Promise<void> {
  const scheduled = await redeliveriesScheduledOf(db, job.jobId);
  let withdrawn: typeof scheduled = [];
  if (scheduled.length > 0) {
    try {
      const transport = await transportFor({ transport: job.processingPath as TransportName, destination: job.destination });
      if (transport.cancelScheduled) {
        await transport.cancelScheduled(scheduled.map((s) => s.ref));
        withdrawn = scheduled;
      }
    } catch (err) {
      // Not fatal: a scheduled message of a cancelled job is answered `cancelled` when it arrives.
      result.withdrawError = errorMessage(err);
    }
  }
  result.scheduledWithdrawn = withdrawn.length;
  await redeliveriesDropOfEndedJob(db, { jobId: job.jobId, withdrawn });
}

export interface StateChange<T extends string> {
  jobId: string;
  outcome: T;
}

/** `geo pause`: no task of the job is claimed, and its next stage is not queued, until `geo resume`. */
export async function pauseJob(db: Pool, job: JobRow): Promise<StateChange<PauseOutcome>> {
  return { jobId: job.jobId, outcome: await jobsPause(db, job.jobId) };
}

/** `geo resume`: the paused job goes on where it stopped; what waited is sent. */
export async function resumeJob(db: Pool, job: JobRow): Promise<StateChange<ResumeOutcome>> {
  return { jobId: job.jobId, outcome: await jobsResume(db, job.jobId) };
}

export interface RetryFailedResult {
  jobId: string;
  outcome: RetryFailedOutcome;
  /** Failed tasks that run again. */
  tasks: number;
  /** Stages reopened (their tasks' or their advancement's failure undone). */
  stages: number;
}

/**
 * `geo retry-failed`: the job's failed tasks (of `stage`, or `taskIds`) run
 * again as fresh tasks, their earlier runs kept in each task's history; a
 * stage whose building or whose job's result failed is built or summed up
 * again. The job reopens and ends again, exactly once. Run it after fixing
 * what failed (a job-type module, a data source).
 */
export async function retryFailed(params: { db: Pool; job: JobRow; stage?: number; taskIds?: readonly string[] }): Promise<RetryFailedResult> {
  const { db, job } = params;
  const foreign = params.taskIds?.filter((id) => !id.startsWith(`${job.idPrefix}-`)) ?? [];
  if (foreign.length > 0) {
    throw new InputError('TASK_NOT_IN_JOB', `task ${foreign[0]} is not a task of job ${job.jobId.slice(0, 16)}`);
  }
  const answer = await jobsRetryFailed(db, { jobId: job.jobId, stage: params.stage, taskIds: params.taskIds });
  if (answer.outcome === 'cancelled') {
    throw new GeoError('input', 'JOB_CANCELLED', `job ${job.jobId.slice(0, 16)} was cancelled; a cancelled job is not run again (submit it again instead)`);
  }
  if (answer.outcome === 'pruning') {
    throw new InputError('JOB_PRUNING', `job ${job.jobId.slice(0, 16)} is being deleted by geo prune; it cannot be run again (submit it again instead)`);
  }
  return { jobId: job.jobId, ...answer };
}
