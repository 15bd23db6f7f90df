import { type BackoffPolicy, backoffDelay } from '../../concurrency/backoff.js';
import { AdaptiveLimiter } from '../../concurrency/limiter.js';
import { DependencyError, type GeoError } from '../../errors.js';
import type { Pool } from '../../store/pool.js';
import { batchesClaimDue, batchesResetFailed, type DueBatch, databaseNow } from '../../store/recovery.js';
import type { SendTarget, TransportResolver } from '../protocol/job-transport.js';
import { LeaseKeeper } from '../protocol/leases.js';
import { recordSentBatches } from '../protocol/record.js';
import type { SendPolicy } from '../protocol/send.js';
import { resendClaimedBatches } from '../protocol/take-over.js';

/**
 * Batches claimed (and recorded) per statement. Small enough that a chunk is
 * sent well within one lease, large enough that statements stay few.
 */
const CLAIM_CHUNK = 100;

export interface PendingBatchOptions {
  jobId?: string;
  transport?: string;
  /** Only batches created at least this long ago. */
  olderThanSeconds: number;
  /** Most batches to claim in this run. */
  limit: number;
  /** Attempts after which a batch is `failed` and left for a human. */
  maxAttempts: number;
  /** Put `failed` batches back first. */
  includeFailed: boolean;
  leaseSeconds: number;
  concurrency: number;
  session?: number | null;
  sendPolicy: SendPolicy;
  /** Delay before the next run may try a batch again, by attempt. */
  retryBackoff: BackoffPolicy;
  onProgress?: (progress: { claimedBatches: number; requeuedTasks: number }) => void;
}

export interface PendingBatchOutcome {
  claimedBatches: number;
  /** Tasks sent (step 2 again) and recorded queued. */
  requeuedTasks: number;
  /** Batches moved to `failed` by this run. */
  failed: number;
  failedTasks: number;
  resetFailedBatches: number;
  stoppedBy?: GeoError;
}

/**
 * Steps 2 and 3 of the batch protocol again for batches a crash or an outage
 * left `pending_queue`: claims due batches (lease lapsed, backoff over, due
 * before the run started so one run tries a batch at most once) in chunks
 * with FOR UPDATE SKIP LOCKED, re-sends their unsent tasks, and records each
 * chunk in one statement, which gives back every claim of the chunk, sent or
 * not. Failures are rescheduled with backoff; at `maxAttempts` a batch and
 * its unsent tasks become `failed`.
 */
export async function recoverPendingBatches(params: {
  db: Pool;
  transportFor: TransportResolver;
  excludeJobs: string[];
  options: PendingBatchOptions;
  /** Asked between chunks: a stop request (Ctrl-C) ends the run cleanly. */
  stopped: () => GeoError | undefined;
}): Promise<PendingBatchOutcome> {
  const { db, options, excludeJobs } = params;
  const filter = { jobId: options.jobId, transport: options.transport, olderThanSeconds: options.olderThanSeconds };
  const outcome: PendingBatchOutcome = { claimedBatches: 0, requeuedTasks: 0, failed: 0, failedTasks: 0, resetFailedBatches: 0 };
  if (options.includeFailed) outcome.resetFailedBatches = await batchesResetFailed(db, { ...filter, excludeJobs });
  const dueBy = await databaseNow(db);
  const limiter = new AdaptiveLimiter(options.concurrency);
  const leases = new LeaseKeeper(db, options.leaseSeconds, options.session);
  try {
    while (outcome.claimedBatches < options.limit && !outcome.stoppedBy && !params.stopped()) {
      const chunk = await batchesClaimDue(db, {
        ...filter,
        dueBy,
        limit: Math.min(options.limit - outcome.claimedBatches, CLAIM_CHUNK),
        leaseSeconds: options.leaseSeconds,
        owner: leases.owner,
        excludeJobs,
      });
      if (chunk.length === 0) break;
      for (const batch of chunk) leases.hold(batch.batchId);
      outcome.claimedBatches += chunk.length;
      await recoverChunk(chunk);
    }
  } finally {
    leases.stop();
  }
  return outcome;

  async function recoverChunk(chunk: DueBatch[]): Promise<void> {
    const attemptOf = (batchId: string) => (chunk.find((b) => b.batchId === batchId)?.attempts ?? 0) + 1;
    const sent = await resendClaimedBatches({
      db,
      transportFor: (batch) => params.transportFor(chunk.find((b) => b.batchId === batch.batchId)! as SendTarget),
      batches: chunk,
      leases,
      limiter,
      policy: options.sendPolicy,
      shouldStop: () => outcome.stoppedBy !== undefined || params.stopped() !== undefined,
      retryAfterMs: (batch) => backoffDelay(attemptOf(batch.batchId), options.retryBackoff),
      giveUp: (batch) => attemptOf(batch.batchId) >= options.maxAttempts,
    });
    for (const batch of await recordSentBatches(db, leases, sent)) {
      if (batch.lost) continue;
      outcome.requeuedTasks += batch.queued;
      outcome.failedTasks += batch.failed;
      if (batch.error && attemptOf(batch.batchId) >= options.maxAttempts) outcome.failed++;
      if (batch.error && !batch.error.retryable) {
        outcome.stoppedBy ??= new DependencyError(batch.error.code, batch.error.message, { cause: batch.error });
      }
    }
    options.onProgress?.({ claimedBatches: outcome.claimedBatches, requeuedTasks: outcome.requeuedTasks });
  }
}
