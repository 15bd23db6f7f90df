import { describeDestination } from '../config/destinations.js';
import type { TransportName } from '../config/index.js';
import { DependencyError, GeoError, errorMessage } from '../errors.js';
import type { Pool } from '../store/pool.js';
import {
  batchesClaimDue,
  batchesCountFailed,
  batchesListDue,
  batchesResetFailed,
  databaseNow,
  pendingSummary,
  recoveryTargets,
  tasksCountStale,
  type DueBatch,
  type PendingSummary,
} from '../store/recovery.js';
import { stagesListUnwritten } from '../store/stages.js';
import type { TransportProducer } from '../transports/transport.js';
import { AdaptiveLimiter } from '../concurrency/limiter.js';
import { advanceStages, type Advancement } from './advance.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { MAX_BATCH_SIZE } from './batching.js';
import { LeaseKeeper } from './leases.js';
import { resendClaimedBatches } from './resend.js';
import { recordSentBatches, type SendPolicy } from './send-batch.js';
import { requeueStaleTasks } from './stale-tasks.js';
import { finishUnwrittenStages, type UnwrittenStageReport } from './unwritten-stages.js';
import type { SendTarget, TransportResolver } from './targets.js';

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
  /**
   * Aborting stops the run the clean way: nothing new is claimed, the batches
   * in flight are sent and recorded (which gives their claims back).
   */
  signal?: AbortSignal;
}

/** A job this run could not send for: its destination has no usable configuration. */
export interface UnreachableJob {
  jobId: string;
  destination: string;
  reason: string;
}

export interface RetryPendingResult {
  claimedBatches: number;
  requeuedTasks: number;
  /** Tasks in pending batches after this run, whoever holds them. */
  stillPending: number;
  /** Pending batches, and their tasks, that another live process holds (it is sending them). */
  heldByOthers: { batches: number; tasks: number };
  /** Batches moved to `failed` by this run. */
  failed: number;
  failedTasks: number;
  staleProcessingRequeued: number;
  staleProcessingFailed: number;
  resetFailedBatches: number;
  /** Stages found half written: finished by this run, or still missing tasks. */
  stages: UnwrittenStageReport[];
  /** Tasks of those stages still not written after this run. */
  notWritten: number;
  /** Jobs left alone because their destination is not configured here. */
  unreachable: UnreachableJob[];
  /** Finished stages this run advanced (next stage queued, or job ended): the sweep for deployments without geo work. */
  advanced: Advancement[];
  /** With dryRun: what a real run would claim (nothing was changed). */
  wouldClaim?: DueBatch[];
  wouldRequeueStale?: number;
  failedBatchesWaiting?: number;
  elapsedMs: number;
  stoppedBy?: GeoError;
}

/**
 * Recovers what crashes and outages left half-done: finishes writing stages
 * whose writer died, claims pending batches whose lease lapsed and whose
 * backoff is over and re-sends their unsent tasks, gives up on batches past
 * `maxAttempts`, and re-queues tasks whose worker died. Every destination is
 * opened (configuration and reachability checked) before anything is
 * claimed. Safe to run from cron in any number of copies next to live submits.
 */
export async function retryPending(params: {
  db: Pool;
  transportFor: TransportResolver;
  options: RetryPendingOptions;
}): Promise<RetryPendingResult> {
  const started = Date.now();
  const { db, options } = params;
  const filter = { jobId: options.jobId, transport: options.transport, olderThanSeconds: options.olderThanSeconds };
  const result: RetryPendingResult = {
    claimedBatches: 0,
    requeuedTasks: 0,
    stillPending: 0,
    heldByOthers: { batches: 0, tasks: 0 },
    failed: 0,
    failedTasks: 0,
    staleProcessingRequeued: 0,
    staleProcessingFailed: 0,
    resetFailedBatches: 0,
    stages: [],
    notWritten: 0,
    unreachable: [],
    advanced: [],
    elapsedMs: 0,
  };
  const finish = async () => {
    summarisePending(result, await pendingSummary(db, filter));
    result.stages = result.stages.length > 0 ? result.stages : await unwrittenStages(db, filter);
    result.notWritten = result.stages.reduce((sum, s) => sum + Math.max(0, s.expectedTasks - s.writtenTasks), 0);
    result.elapsedMs = Date.now() - started;
    return result;
  };

  if (options.dryRun) {
    result.wouldClaim = await batchesListDue(db, { ...filter, limit: options.limit });
    result.wouldRequeueStale = await tasksCountStale(db, { staleAfterSeconds: options.staleAfterSeconds, jobId: options.jobId });
    result.failedBatchesWaiting = await batchesCountFailed(db, filter);
    return finish();
  }

  // Configuration and reachability of every destination first: a run that
  // cannot send claims nothing, so the next run is not locked out.
  const transports = await openDestinations(db, params.transportFor, { ...filter, includeFailed: options.includeFailed }, result.unreachable);
  const excludeJobs = result.unreachable.map((u) => u.jobId);
  const transportFor = (target: SendTarget) => transports(target);

  if (options.includeFailed) result.resetFailedBatches = await batchesResetFailed(db, { ...filter, excludeJobs });
  const dueBy = await databaseNow(db);
  const limiter = new AdaptiveLimiter(options.concurrency);
  const leases = new LeaseKeeper(db, options.leaseSeconds);
  const onAbort = () => {
    result.stoppedBy ??= new GeoError('incomplete', 'INTERRUPTED', 'interrupted; run retry-pending again to go on');
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  try {
    result.stages = await finishUnwrittenStages({ db, transportFor, options, excludeJobs });
    result.stoppedBy ??= result.stages.find((s) => s.stoppedBy?.kind === 'dependency')?.stoppedBy;
    while (result.claimedBatches < options.limit && !result.stoppedBy) {
      const chunk = await batchesClaimDue(db, {
        ...filter,
        dueBy,
        limit: Math.min(options.limit - result.claimedBatches, CLAIM_CHUNK),
        leaseSeconds: options.leaseSeconds,
        claimToken: leases.token,
        excludeJobs,
      });
      if (chunk.length === 0) break;
      for (const batch of chunk) leases.hold(batch.batchId);
      result.claimedBatches += chunk.length;
      await recoverChunk(chunk);
    }
    if (!result.stoppedBy) {
      const stale = await requeueStaleTasks({ db, transportFor, excludeJobs, options });
      result.staleProcessingRequeued = stale.requeued;
      result.staleProcessingFailed = stale.failed;
      result.stoppedBy ??= stale.stoppedBy;
    }
    if (!result.stoppedBy) {
      result.advanced = await advanceStages({
        db,
        transportFor,
        options: {
          leaseSeconds: options.leaseSeconds,
          concurrency: options.concurrency,
          batchSize: MAX_BATCH_SIZE,
          sendPolicy: options.sendPolicy,
          signal: options.signal,
          excludeJobs,
        },
      });
      result.stoppedBy ??= result.advanced.find((a) => a.error?.kind === 'dependency')?.error;
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    leases.stop();
  }
  return finish();

  /**
   * Sends a claimed chunk's batches at once (the limiter bounds them) and
   * records them in one statement, which also gives back every claim of the
   * chunk, sent or not.
   */
  async function recoverChunk(chunk: DueBatch[]): Promise<void> {
    const attemptOf = (batchId: string) => (chunk.find((b) => b.batchId === batchId)?.attempts ?? 0) + 1;
    const sent = await resendClaimedBatches({
      db,
      transportFor: (batch) => transportFor(chunk.find((b) => b.batchId === batch.batchId)! as SendTarget),
      batches: chunk,
      leases,
      limiter,
      policy: options.sendPolicy,
      shouldStop: () => result.stoppedBy !== undefined,
      retryAfterMs: (batch) => backoffDelay(attemptOf(batch.batchId), options.retryBackoff),
      giveUp: (batch) => attemptOf(batch.batchId) >= options.maxAttempts,
    });
    for (const batch of await recordSentBatches(db, leases, sent)) {
      if (batch.lost) continue;
      result.requeuedTasks += batch.queued;
      result.failedTasks += batch.failed;
      if (batch.error && attemptOf(batch.batchId) >= options.maxAttempts) result.failed++;
      if (batch.error && !batch.error.retryable) {
        result.stoppedBy ??= new DependencyError(batch.error.code, batch.error.message, { cause: batch.error });
      }
    }
    options.onProgress?.({ claimedBatches: result.claimedBatches, requeuedTasks: result.requeuedTasks });
  }
}

/**
 * Opens the transport of every destination this run may send to. One whose
 * configuration is missing is reported by name and its jobs are left alone;
 * a broker that cannot be reached stops the run before anything is claimed.
 */
async function openDestinations(
  db: Pool,
  transportFor: TransportResolver,
  filter: { jobId?: string; transport?: string; includeFailed: boolean },
  unreachable: UnreachableJob[],
): Promise<TransportResolver> {
  const opened = new Map<string, TransportProducer>();
  const keyOf = (t: SendTarget) => `${t.transport} ${JSON.stringify(t.destination)}`;
  for (const target of await recoveryTargets(db, filter)) {
    const sendTarget = { transport: target.transport as TransportName, destination: target.destination };
    const key = keyOf(sendTarget);
    if (opened.has(key)) continue;
    try {
      opened.set(key, await transportFor(sendTarget));
    } catch (err) {
      if (!(err instanceof GeoError) || err.kind !== 'input') throw err;
      unreachable.push({ jobId: target.jobId, destination: describe(sendTarget), reason: errorMessage(err) });
    }
  }
  return async (target) => {
    const transport = opened.get(keyOf(target));
    if (transport) return transport;
    // A job that appeared after the check (a new submit): opened now, still before its batches are claimed.
    const fresh = await transportFor(target);
    opened.set(keyOf(target), fresh);
    return fresh;
  };
}

function describe(target: SendTarget): string {
  return target.destination ? describeDestination(target.destination) : target.transport;
}

function summarisePending(result: RetryPendingResult, summary: PendingSummary): void {
  result.stillPending = summary.pendingTasks;
  result.heldByOthers = { batches: summary.heldBatches, tasks: summary.heldTasks };
}

async function unwrittenStages(db: Pool, filter: { jobId?: string; transport?: string }): Promise<UnwrittenStageReport[]> {
  return (await stagesListUnwritten(db, filter)).map((s) => ({ ...s, finished: false }));
}
