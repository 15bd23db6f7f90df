import { type BackoffPolicy, backoffDelay } from '../concurrency/backoff.js';
import { errorMessage, GeoError } from '../errors.js';
import { type JobRow, jobsFail, jobsFinish, jobsGet } from '../store/jobs.js';
import type { Pool } from '../store/pool.js';
import {
  type ClaimOwner,
  type StageCompletionRow,
  stageCompletionsClaim,
  stageCompletionsMarkHandled,
  stageCompletionsRecordError,
  stageCompletionsRenew,
} from '../store/stage-completions.js';
import { tasksFirstErrors, tasksStreamResults } from '../store/tasks.js';
import type { Advancement, DispatchEvents } from './events.js';
import type { JobType } from './job-types/job-type.js';
import { findJobType } from './job-types/registry.js';
import { sendTargetOf, type TransportResolver } from './protocol/job-transport.js';
import { newClaimOwner } from './protocol/leases.js';
import { queueStage } from './protocol/queue-stage.js';
import type { SendPolicy } from './protocol/send.js';

/** How many failed tasks' errors a failed job keeps (and `geo status` shows). */
const JOB_ERRORS_KEPT = 20;
/** A transient failure (database, broker) is retried after this, doubling up to the cap. */
const RETRY_BACKOFF = { baseMs: 5_000, maxMs: 300_000 };
/**
 * A job type no advancing process could load: tried this many times, 4 s
 * apart and doubling (4 + 8 + 16 + 32 s: within about a minute), then the job
 * fails. Any process that has the module and claims the stage meanwhile
 * advances it.
 */
export const UNKNOWN_TYPE_ATTEMPTS = 5;
// Unbounded: the job fails after UNKNOWN_TYPE_ATTEMPTS, long before the doubling matters.
const UNKNOWN_TYPE_BACKOFF: BackoffPolicy = { baseMs: 4_000, maxMs: Number.POSITIVE_INFINITY, jitter: 'none' };

/**
 * Errors of a job type's own making: its builder or result threw, or it built
 * a different number of tasks than it declared. No retry can change them, so
 * the job fails at once.
 */
const PERMANENT_CODES = new Set(['JOB_TYPE_FAILED', 'JOB_TYPE_INVALID', 'STAGE_TASK_COUNT_MISMATCH', 'INVALID_PARAMS']);

export interface AdvanceOptions {
  leaseSeconds: number;
  concurrency: number;
  batchSize: number;
  sendPolicy?: SendPolicy;
  /** The process's session: its claims are freed at once if it dies. */
  session?: number | null;
  /** Most stage completions to handle in one call. */
  limit?: number;
  signal?: AbortSignal;
  /** Jobs whose destination cannot be reached here: their finished stages are left for a run that can. */
  excludeJobs?: readonly string[];
  /** Observers of the next stages' dispatch (trace spans). */
  events?: DispatchEvents;
}

/** How one attempt at a finished stage ended, before it is recorded. */
type Attempt = { kind: 'done'; advancement: Advancement } | { kind: 'retry'; error: GeoError; unknownType: boolean; nextStage?: number };

/**
 * Handles finished stages recorded in the outbox (stage_completions), each
 * exactly once even with many advancers: claims open rows under a lease
 * (FOR UPDATE SKIP LOCKED), then queues the next stage through the batch
 * protocol (idempotent: a crash half-way is finished by the next advancer,
 * batch ids being deterministic), or ends the job: `completed` with its job
 * type's result after the last stage, `failed` when a stage failed. Every
 * outcome ends: a job type's own error fails the job at once (kept on the
 * stage that failed), a job type nobody can load fails it after
 * UNKNOWN_TYPE_ATTEMPTS, and only transient failures are retried, with
 * backoff. A stage of zero tasks finishes as soon as it is written, so a run
 * of them advances within one call.
 */
export async function advanceStages(params: AdvanceContext): Promise<Advancement[]> {
  const { db, options } = params;
  const owner = newClaimOwner(options.session);
  const done: Advancement[] = [];
  const limit = options.limit ?? 1_000;
  while (done.length < limit && !options.signal?.aborted) {
    const [row] = await stageCompletionsClaim({ db, limit: 1, leaseSeconds: options.leaseSeconds, owner, excludeJobs: options.excludeJobs });
    if (!row) break;
    const attempt = await advanceUnderLease(params, owner, row);
    done.push(await recordAttempt(db, owner, row, attempt));
  }
  return done;
}

/** What advancing needs: the database, a job's transport, and the run's options. */
interface AdvanceContext {
  db: Pool;
  transportFor: TransportResolver;
  options: AdvanceOptions;
}

/** One attempt at a claimed row; its error, if it throws, is one to retry. */
async function advanceUnderLease(ctx: AdvanceContext, owner: ClaimOwner, row: StageCompletionRow): Promise<Attempt> {
  const { db, options } = ctx;
  // Queueing a large next stage can outlast the lease: renewed meanwhile, so no second advancer starts it too.
  const renewal = setInterval(
    () => {
      stageCompletionsRenew({ db, jobId: row.jobId, stage: row.stage, token: owner.token, leaseSeconds: options.leaseSeconds }).catch(
        () => undefined, // A failed renewal leaves the lease to lapse; the next advancer then takes over, idempotently.
      );
    },
    (options.leaseSeconds * 1000) / 3,
  );
  try {
    return await advanceOne(ctx, row);
  } catch (err) {
    return { kind: 'retry', error: asGeoError(err), unknownType: false };
  } finally {
    clearInterval(renewal);
  }
}

/** Marks the row handled, or records the error and when to try again. */
async function recordAttempt(db: Pool, owner: ClaimOwner, row: StageCompletionRow, attempt: Attempt): Promise<Advancement> {
  if (attempt.kind === 'done') {
    await stageCompletionsMarkHandled({ db, jobId: row.jobId, stage: row.stage, token: owner.token });
    return attempt.advancement;
  }
  const delayMs = attempt.unknownType
    ? backoffDelay(row.unknownTypeAttempts + 1, UNKNOWN_TYPE_BACKOFF)
    : backoffDelay(row.attempts - row.unknownTypeAttempts, RETRY_BACKOFF);
  await stageCompletionsRecordError({
    db,
    jobId: row.jobId,
    stage: row.stage,
    token: owner.token,
    error: attempt.error.message,
    retryAfterSeconds: delayMs / 1000,
    unknownType: attempt.unknownType,
  });
  return {
    jobId: row.jobId,
    stage: row.stage,
    action: 'retry-later',
    nextStage: attempt.nextStage,
    error: attempt.error,
    retryAt: new Date(Date.now() + delayMs),
  };
}

async function advanceOne(ctx: AdvanceContext, row: StageCompletionRow): Promise<Attempt> {
  const { db } = ctx;
  const base = { jobId: row.jobId, stage: row.stage };
  const job = await jobsGet(db, row.jobId);
  if (job?.status !== 'processing') return { kind: 'done', advancement: { ...base, action: 'already-ended' } };
  const jobType = findJobType(job.jobType)?.jobType;
  if (!jobType) return unknownType(db, row, job);
  if (row.outcome === 'failed') {
    const errors = await tasksFirstErrors(db, { jobId: job.jobId, stage: row.stage, limit: JOB_ERRORS_KEPT });
    await jobsFail(db, { jobId: job.jobId, stage: row.stage, errors: { stage: row.stage, tasks: errors } });
    return { kind: 'done', advancement: { ...base, action: 'job-failed' } };
  }
  const position = jobType.stages.findIndex((s) => s.stage === row.stage);
  const next = jobType.stages[position + 1];
  if (next) return queueNext(ctx, job, next.stage, base);
  const result = await jobResult(db, jobType, job, base);
  if ('kind' in result) return result;
  await jobsFinish(db, { jobId: job.jobId, status: 'completed', result: result.value });
  return { kind: 'done', advancement: { ...base, action: 'job-completed' } };
}

/** The job type's result, or the job failed at its last stage when computing it threw. */
async function jobResult(db: Pool, jobType: JobType, job: JobRow, base: { jobId: string; stage: number }): Promise<{ value: unknown } | Attempt> {
  if (!jobType.result) return { value: null };
  try {
    const parameters = jobType.params.parse(job.parameters);
    return { value: await jobType.result(parameters, { results: (stage) => tasksStreamResults(db, { jobId: job.jobId, stage }) }) };
  } catch (err) {
    if (!isPermanent(err)) throw err;
    return failJob(db, job, base.stage, err, base);
  }
}

async function queueNext(ctx: AdvanceContext, job: JobRow, stage: number, base: { jobId: string; stage: number }): Promise<Attempt> {
  const { db, options } = ctx;
  let run: Awaited<ReturnType<typeof queueStage>>;
  try {
    const transport = await ctx.transportFor(sendTargetOf(job));
    run = await queueStage({
      db,
      transport,
      job,
      stage,
      options: {
        batchSize: options.batchSize,
        concurrency: options.concurrency,
        leaseSeconds: options.leaseSeconds,
        session: options.session,
        sendPolicy: options.sendPolicy,
        signal: options.signal,
        events: options.events,
      },
    });
  } catch (err) {
    // The job ended (a cancel) after it was read above: its next stage is not created, nothing to do.
    if (err instanceof GeoError && err.code === 'JOB_ENDED') return { kind: 'done', advancement: { ...base, action: 'already-ended' } };
    if (!isPermanent(err)) throw err;
    return failJob(db, job, stage, err, { ...base, nextStage: stage });
  }
  if (run.stoppedBy && isPermanent(run.stoppedBy)) return failJob(db, job, stage, run.stoppedBy, { ...base, nextStage: stage });
  // Written is enough: batches left pending by a broker outage are the sweep's to finish.
  if (run.stageWritten) {
    return { kind: 'done', advancement: { ...base, action: 'queued-next-stage', nextStage: stage, queuedTasks: run.createdTasks } };
  }
  const error = run.stoppedBy ?? new GeoError('incomplete', 'STAGE_NOT_QUEUED', `stage ${stage} is not fully queued yet`);
  return { kind: 'retry', error, unknownType: false, nextStage: stage };
}

/** Ends the job `failed` with `err`, kept on `stage` (the stage whose building or result failed). */
async function failJob(db: Pool, job: JobRow, stage: number, err: unknown, advancement: Omit<Advancement, 'action'>): Promise<Attempt> {
  const error = asGeoError(err);
  await jobsFail(db, { jobId: job.jobId, stage, stageError: error.message, errors: { stage, error: error.message, code: error.code } });
  return { kind: 'done', advancement: { ...advancement, action: 'job-failed', error } };
}

async function unknownType(db: Pool, row: StageCompletionRow, job: JobRow): Promise<Attempt> {
  const tries = row.unknownTypeAttempts + 1;
  if (tries < UNKNOWN_TYPE_ATTEMPTS) {
    const error = new GeoError(
      'input',
      'UNKNOWN_JOB_TYPE',
      `job type "${job.jobType}" is not loaded in this process (attempt ${tries} of ${UNKNOWN_TYPE_ATTEMPTS}; give --job-types or GEO_JOB_TYPES)`,
    );
    return { kind: 'retry', error, unknownType: true };
  }
  const error = new GeoError(
    'input',
    'JOB_TYPE_UNAVAILABLE',
    `job type "${job.jobType}" was not loaded by any geo process that tried to advance stage ${row.stage} (${UNKNOWN_TYPE_ATTEMPTS} attempts); ` +
      'run geo work or retry-pending with --job-types (or GEO_JOB_TYPES) naming its module',
  );
  return failJob(db, job, row.stage, error, { jobId: row.jobId, stage: row.stage });
}

/** Whether building a stage (or a job's result) failed in a way no retry can change. */
export function isPermanent(err: unknown): boolean {
  return err instanceof GeoError && PERMANENT_CODES.has(err.code);
}

function asGeoError(err: unknown): GeoError {
  return err instanceof GeoError ? err : new GeoError('internal', 'ADVANCE_FAILED', errorMessage(err), { cause: err });
}

export type { Advancement } from './events.js';
