import type { TransportName } from '../config/index.js';
import { GeoError, errorMessage } from '../errors.js';
import {
  stageCompletionsClaim,
  stageCompletionsMarkHandled,
  stageCompletionsRecordError,
  type StageCompletionRow,
} from '../store/completion.js';
import { jobsFinish, jobsGet, type JobRow } from '../store/jobs.js';
import type { Pool } from '../store/pool.js';
import { tasksFirstErrors, tasksStreamResults } from '../store/tasks.js';
import { getJobType } from './job-types/registry.js';
import { newClaimToken } from './leases.js';
import type { SendPolicy } from './send-batch.js';
import { queueStage } from './stage.js';
import type { TransportResolver } from './targets.js';

/** How many failed tasks' errors a failed job keeps (and `geo status` shows). */
const JOB_ERRORS_KEPT = 20;
/** A completion whose handling failed (the broker was down) is tried again after this. */
const RETRY_AFTER_SECONDS = 30;

export interface AdvanceOptions {
  leaseSeconds: number;
  concurrency: number;
  batchSize: number;
  sendPolicy?: SendPolicy;
  /** Most stage completions to handle in one call. */
  limit?: number;
  signal?: AbortSignal;
  /** Jobs whose destination cannot be reached here: their finished stages are left for a run that can. */
  excludeJobs?: readonly string[];
}

/** What handling one finished stage did. */
export interface Advancement {
  jobId: string;
  stage: number;
  action: 'queued-next-stage' | 'job-completed' | 'job-failed' | 'already-ended' | 'retry-later';
  nextStage?: number;
  /** Tasks written for the next stage. */
  queuedTasks?: number;
  error?: GeoError;
}

/**
 * Handles finished stages recorded in the outbox (stage_completions), each
 * exactly once even with many advancers: claims open rows under a lease and
 * token (FOR UPDATE SKIP LOCKED), then queues the next stage through the
 * batch protocol (idempotent: a crash half-way is finished by the next
 * advancer, batch ids being deterministic), or ends the job: `completed`
 * with its job type's result after the last stage, `failed` with its failed
 * tasks' errors when a stage failed. A stage of zero tasks finishes as soon
 * as it is written, so a run of them advances within one call.
 */
export async function advanceStages(params: { db: Pool; transportFor: TransportResolver; options: AdvanceOptions }): Promise<Advancement[]> {
  const { db, options } = params;
  const token = newClaimToken();
  const done: Advancement[] = [];
  const limit = options.limit ?? 1_000;
  while (done.length < limit && !options.signal?.aborted) {
    const rows = await stageCompletionsClaim({ db, limit: 1, leaseSeconds: options.leaseSeconds, token, excludeJobs: options.excludeJobs });
    const row = rows[0];
    if (!row) break;
    let outcome: Advancement;
    try {
      outcome = await advanceOne(row);
    } catch (err) {
      const error = err instanceof GeoError ? err : new GeoError('internal', 'ADVANCE_FAILED', errorMessage(err), { cause: err });
      outcome = { jobId: row.jobId, stage: row.stage, action: 'retry-later', error };
    }
    if (outcome.action === 'retry-later') {
      await stageCompletionsRecordError({
        db,
        jobId: row.jobId,
        stage: row.stage,
        token,
        error: outcome.error?.message ?? 'not finished',
        retryAfterSeconds: RETRY_AFTER_SECONDS,
      });
    } else {
      await stageCompletionsMarkHandled({ db, jobId: row.jobId, stage: row.stage, token });
    }
    done.push(outcome);
  }
  return done;

  async function advanceOne(row: StageCompletionRow): Promise<Advancement> {
    const base = { jobId: row.jobId, stage: row.stage };
    const job = await jobsGet(db, row.jobId);
    if (!job || job.status !== 'processing') return { ...base, action: 'already-ended' };
    const jobType = getJobType(job.jobType);
    if (row.outcome === 'failed') {
      const errors = await tasksFirstErrors(db, { jobId: job.jobId, stage: row.stage, limit: JOB_ERRORS_KEPT });
      await jobsFinish(db, { jobId: job.jobId, status: 'failed', errors: { stage: row.stage, tasks: errors } });
      return { ...base, action: 'job-failed' };
    }
    const position = jobType.stages.findIndex((s) => s.stage === row.stage);
    const next = jobType.stages[position + 1];
    if (next) return queueNext(job, next.stage, base);
    const parameters = jobType.params.parse(job.parameters);
    const result = jobType.result
      ? await jobType.result(parameters, { results: (stage) => tasksStreamResults(db, { jobId: job.jobId, stage }) })
      : null;
    await jobsFinish(db, { jobId: job.jobId, status: 'completed', result });
    return { ...base, action: 'job-completed' };
  }

  async function queueNext(job: JobRow, stage: number, base: { jobId: string; stage: number }): Promise<Advancement> {
    const transport = await params.transportFor({ transport: job.processingPath as TransportName, destination: job.destination });
    const run = await queueStage({
      db,
      transport,
      job,
      stage,
      options: {
        batchSize: options.batchSize,
        concurrency: options.concurrency,
        leaseSeconds: options.leaseSeconds,
        sendPolicy: options.sendPolicy,
        signal: options.signal,
      },
    });
    // Written is enough: batches left pending by a broker outage are retry-pending's to finish.
    const finished = run.stageWritten;
    return {
      ...base,
      action: finished ? 'queued-next-stage' : 'retry-later',
      nextStage: stage,
      queuedTasks: run.createdTasks,
      error: finished ? undefined : (run.stoppedBy ?? new GeoError('incomplete', 'STAGE_NOT_QUEUED', `stage ${stage} is not fully queued yet`)),
    };
  }
}
