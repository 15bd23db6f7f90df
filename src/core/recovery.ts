import type { TransportName } from '../config/index.js';
import { DependencyError, type GeoError } from '../errors.js';
import type { Pool } from '../store/pool.js';
import {
  batchesClaimDue,
  batchesCountFailed,
  batchesListDue,
  batchesResetFailed,
  databaseNow,
  tasksCountStale,
  tasksPendingInBatches,
  tasksStillPending,
  type DueBatch,
  type PendingTask,
} from '../store/recovery.js';
import type { Transport } from '../transports/transport.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { LeaseKeeper } from './leases.js';
import { AdaptiveLimiter } from '../concurrency/limiter.js';
import { requeueStaleTasks } from './stale-tasks.js';
import { recordSentBatches, sendClaimedBatch, type SendPolicy, type SentBatch } from './send-batch.js';

/**
 * Batches claimed (and recorded) per statement. Small enough that a chunk is
 * sent well within one lease, large enough that statements stay few.
 */
const CLAIM_CHUNK = 100;

export interface RetryPendingOptions {
  jobId?: string;
  transport?: TransportName;
  /** Only batches created at least this long ago. */
  olderThanSeconds: number;
  /** Most batches to claim in this run. */
  limit: number;
  dryRun: boolean;
  /** Attempts after which a batch is `failed` and left for a human. */
  maxAttempts: number;
  /** Put `failed` batches back first. */
  includeFailed: boolean;
  staleAfterSeconds: number;
  /** Re-queues of a task whose worker died before it is `failed`. */
  maxTaskRetries: number;
  leaseSeconds: number;
  concurrency: number;
  /** Sends within this run. */
  sendPolicy: SendPolicy;
  /** Delay before the next run may try a batch again, by attempt. */
  retryBackoff: BackoffPolicy;
  onProgress?: (progress: { claimedBatches: number; requeuedTasks: number }) => void;
}

export interface RetryPendingResult {
  claimedBatches: number;
  requeuedTasks: number;
  /** Tasks of pending batches no live sender holds, after this run. */
  stillPending: number;
  /** Batches moved to `failed` by this run. */
  failed: number;
  failedTasks: number;
  staleProcessingRequeued: number;
  staleProcessingFailed: number;
  resetFailedBatches: number;
  /** With dryRun: what a real run would claim (nothing was changed). */
  wouldClaim?: DueBatch[];
  wouldRequeueStale?: number;
  failedBatchesWaiting?: number;
  elapsedMs: number;
  stoppedBy?: GeoError;
}

/**
 * Recovers what crashes and outages left half-done: claims pending batches
 * whose lease lapsed and whose backoff is over, re-sends their unsent tasks,
 * gives up on batches past `maxAttempts`, and re-queues tasks whose worker
 * died. Safe to run from cron in any number of copies next to live submits.
 */
export async function retryPending(params: {
  db: Pool;
  transportFor: (name: TransportName) => Promise<Transport>;
  options: RetryPendingOptions;
}): Promise<RetryPendingResult> {
  const started = Date.now();
  const { db, options } = params;
  const filter = { jobId: options.jobId, transport: options.transport, olderThanSeconds: options.olderThanSeconds };
  const result: RetryPendingResult = {
    claimedBatches: 0,
    requeuedTasks: 0,
    stillPending: 0,
    failed: 0,
    failedTasks: 0,
    staleProcessingRequeued: 0,
    staleProcessingFailed: 0,
    resetFailedBatches: 0,
    elapsedMs: 0,
  };

  if (options.dryRun) {
    result.wouldClaim = await batchesListDue(db, { ...filter, limit: options.limit });
    result.wouldRequeueStale = await tasksCountStale(db, { staleAfterSeconds: options.staleAfterSeconds, jobId: options.jobId });
    result.failedBatchesWaiting = await batchesCountFailed(db, filter);
    result.stillPending = await tasksStillPending(db, filter);
    result.elapsedMs = Date.now() - started;
    return result;
  }

  if (options.includeFailed) result.resetFailedBatches = await batchesResetFailed(db, filter);
  const dueBy = await databaseNow(db);

  const limiter = new AdaptiveLimiter(options.concurrency);
  const leases = new LeaseKeeper(db, options.leaseSeconds);
  try {
    while (result.claimedBatches < options.limit && !result.stoppedBy) {
      const chunk = await batchesClaimDue(db, {
        ...filter,
        dueBy,
        limit: Math.min(options.limit - result.claimedBatches, CLAIM_CHUNK),
        leaseSeconds: options.leaseSeconds,
      });
      if (chunk.length === 0) break;
      result.claimedBatches += chunk.length;
      await recoverChunk(chunk);
    }
    if (!result.stoppedBy) {
      const stale = await requeueStaleTasks({ db, transportFor: params.transportFor, options });
      result.staleProcessingRequeued = stale.requeued;
      result.staleProcessingFailed = stale.failed;
      result.stoppedBy = stale.stoppedBy;
    }
  } finally {
    leases.stop();
  }
  result.stillPending = await tasksStillPending(db, filter);
  result.elapsedMs = Date.now() - started;
  return result;

  /** Sends a claimed chunk's batches at once (the limiter bounds them) and records them in one statement. */
  async function recoverChunk(chunk: DueBatch[]): Promise<void> {
    const pending = await tasksPendingInBatches(db, chunk.map((b) => b.batchId));
    const sent = await Promise.all(chunk.map((batch) => resend(batch, pending.get(batch.batchId) ?? [])));
    for (const batch of await recordSentBatches(db, sent)) {
      result.requeuedTasks += batch.queued;
      result.failedTasks += batch.failed;
      const attempt = (chunk.find((b) => b.batchId === batch.batchId)?.attempts ?? 0) + 1;
      if (batch.error && attempt >= options.maxAttempts) result.failed++;
      if (batch.error && !batch.error.retryable) {
        result.stoppedBy ??= new DependencyError(batch.error.code, batch.error.message, { cause: batch.error });
      }
    }
    options.onProgress?.({ claimedBatches: result.claimedBatches, requeuedTasks: result.requeuedTasks });
  }

  async function resend(batch: DueBatch, tasks: PendingTask[]): Promise<SentBatch> {
    const transport = await params.transportFor(batch.transport as TransportName);
    const attempt = batch.attempts + 1;
    return sendClaimedBatch({
      transport,
      batchId: batch.batchId,
      messages: tasks.map((t) => ({
        taskId: t.taskId,
        jobId: batch.jobId,
        jobType: batch.jobType,
        taskType: t.taskType,
        stage: batch.stage,
        batchId: batch.batchId,
        parameters: t.parameters,
        attempt,
      })),
      policy: options.sendPolicy,
      limiter,
      leases,
      shouldStop: () => result.stoppedBy !== undefined,
      retryAfterMs: backoffDelay(attempt, options.retryBackoff),
      giveUp: attempt >= options.maxAttempts,
    });
  }
}
