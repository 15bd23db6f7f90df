import { GeoError, type TransportError } from '../../errors.js';
import type { BatchStatus } from '../../statuses.js';
import { batchesRecordSends } from '../../store/batches.js';
import { stagesFinish } from '../../store/completion.js';
import type { Queryable } from '../../store/pool.js';
import { stagesMarkWritten } from '../../store/stages.js';
import type { LeaseKeeper } from './leases.js';
import type { SentBatch } from './send.js';
import type { StageTarget } from './write.js';

/** Step 3's outcome for one batch: its tasks by status, counting what earlier runs did. */
export interface BatchResult {
  batchId: string;
  queued: number;
  failed: number;
  pendingQueue: number;
  /** Another process took the batch over while this one sent it: nothing was recorded for it here. */
  lost: boolean;
  error?: TransportError;
}

/**
 * Step 3 for several sent batches in one statement, then releases their
 * leases. A batch with tasks still unsent stays `pending_queue` with a next
 * attempt time, or with `giveUp` becomes `failed` (with those tasks) for a
 * human to look at. A batch another process took over is recorded by that
 * process, not here, and comes back with `lost`.
 */
export async function recordSentBatches(db: Queryable, leases: LeaseKeeper, sent: SentBatch[]): Promise<BatchResult[]> {
  let recorded: Map<string, { gaveUp: number }>;
  try {
    recorded = await batchesRecordSends(db, {
      claimToken: leases.token,
      records: sent.map((b) => ({
        batchId: b.batchId,
        acknowledged: b.acknowledged,
        rejected: b.rejected,
        status: batchStatusAfter(b),
        attempts: b.attempts,
        error: errorToRecord(b),
        retryAfterMs: b.retryAfterMs,
      })),
    });
  } finally {
    for (const b of sent) leases.release(b.batchId);
  }
  return sent.map((b) => {
    const outcome = recorded.get(b.batchId);
    if (!outcome) return { batchId: b.batchId, queued: 0, failed: 0, pendingQueue: 0, lost: true };
    const gaveUp = b.unsent.length > 0 && b.giveUp;
    return {
      batchId: b.batchId,
      queued: b.carried.queued + b.acknowledged.length,
      failed: b.carried.failed + b.rejected.length + outcome.gaveUp,
      pendingQueue: gaveUp ? 0 : b.unsent.length,
      lost: false,
      error: b.error,
    };
  });
}

/**
 * The stage's end of step 3, once every batch of it exists: the stage leaves
 * `queuing` and counts the tasks built. A stage of no tasks, or one whose
 * count just fell to what its tasks already reached, finishes now. Returns
 * STAGE_TASK_COUNT_MISMATCH when the builder built another number of tasks
 * than the stage declared.
 */
export async function recordStageWritten(db: Queryable, target: StageTarget, built: number): Promise<GeoError | undefined> {
  const { job, stage } = target;
  const marked = await stagesMarkWritten(db, { jobId: job.jobId, stage: stage.stage, taskCount: built });
  if (marked) await stagesFinish({ db, jobId: job.jobId, stage: stage.stage, completed: 0, failed: 0 });
  if (!marked || built === stage.taskCount) return undefined;
  return new GeoError(
    'incomplete',
    'STAGE_TASK_COUNT_MISMATCH',
    `${job.jobType} stage ${stage.stage} declared ${stage.taskCount} tasks but built ${built}; the stage now counts ${built} so it can finish (a bug in the job type)`,
  );
}

function errorToRecord(b: SentBatch): string | undefined {
  if (b.unsent.length > 0 && b.giveUp) return `gave up after repeated send failures: ${b.error?.message ?? 'unknown error'}`;
  return b.error?.message ?? b.rejected[0]?.reason ?? b.lastAttemptError;
}

function batchStatusAfter(b: SentBatch): BatchStatus {
  if (b.unsent.length > 0) return b.giveUp ? 'failed' : 'pending_queue';
  // A batch with nothing left to send (workers took every task already) is queued.
  return b.carried.queued + b.acknowledged.length > 0 || !b.hadMessages ? 'queued' : 'failed';
}
