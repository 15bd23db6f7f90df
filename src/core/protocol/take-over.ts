import type { AdaptiveLimiter } from '../../concurrency/limiter.js';
import type { Queryable } from '../../store/pool.js';
import { tasksPendingInBatches } from '../../store/recovery.js';
import { buildTaskMessage } from '../../transports/message.js';
import type { TransportProducer } from '../../transports/transport.js';
import type { LeaseKeeper } from './leases.js';
import { sendClaimedBatch, type SendPolicy, type SentBatch } from './send.js';

export interface ClaimedBatch {
  batchId: string;
  jobId: string;
  jobType: string;
  stage: number;
}

/**
 * Step 2 again for batches this run has claimed: their still-unsent tasks,
 * read in one query, each batch as one transport batch. The messages are the
 * same delivery as the first send (attempt 0, message id = task id), so a
 * broker with duplicate detection drops what the crashed sender had already
 * got through.
 */
export async function resendClaimedBatches(params: {
  db: Queryable;
  transportFor: (batch: ClaimedBatch) => Promise<TransportProducer>;
  batches: ClaimedBatch[];
  leases: LeaseKeeper;
  limiter: AdaptiveLimiter;
  policy: SendPolicy;
  shouldStop: () => boolean;
  retryAfterMs?: (batch: ClaimedBatch) => number;
  giveUp?: (batch: ClaimedBatch) => boolean;
}): Promise<SentBatch[]> {
  const pending = await tasksPendingInBatches(params.db, params.batches.map((b) => b.batchId));
  return Promise.all(
    params.batches.map(async (batch) =>
      sendClaimedBatch({
        transport: await params.transportFor(batch),
        batchId: batch.batchId,
        messages: (pending.get(batch.batchId) ?? []).map((t) =>
          buildTaskMessage({
            taskId: t.taskId,
            jobId: batch.jobId,
            jobType: batch.jobType,
            taskType: t.taskType,
            stage: batch.stage,
            batchId: batch.batchId,
            parameters: t.parameters,
          }),
        ),
        policy: params.policy,
        limiter: params.limiter,
        leases: params.leases,
        shouldStop: params.shouldStop,
        retryAfterMs: params.retryAfterMs?.(batch),
        giveUp: params.giveUp?.(batch),
      }),
    ),
  );
}
