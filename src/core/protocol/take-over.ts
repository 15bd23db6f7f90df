import type { AdaptiveLimiter } from '../../concurrency/limiter.js';
import { batchesClaim, batchesPendingTaskIds, type StageBatchState } from '../../store/batches.js';
import type { Queryable } from '../../store/pool.js';
import { tasksPendingInBatches } from '../../store/recovery.js';
import { buildTaskMessage, type TaskMessage } from '../../transports/message.js';
import type { TransportProducer } from '../../transports/transport.js';
import type { LeaseKeeper } from './leases.js';
import type { PlannedBatch } from './plan.js';
import { type SendPolicy, type SentBatch, sendClaimedBatch } from './send.js';
import { plannedMessages, type StageTarget } from './write.js';

/**
 * Claims a `pending_queue` batch whose lease lapsed or whose holder's session
 * ended (its sender died), under this run's token, and holds its lease until
 * it is recorded. False when a live sender holds it.
 */
export async function claimBatch(params: { db: Queryable; leases: LeaseKeeper; leaseSeconds: number; batchId: string }): Promise<boolean> {
  const { leases, batchId } = params;
  if (!(await batchesClaim(params.db, { batchId, leaseSeconds: params.leaseSeconds, owner: leases.owner }))) return false;
  leases.hold(batchId);
  return true;
}

/**
 * What is left to send of a batch of the plan that this run claimed: the
 * messages of its still-pending tasks, and what earlier runs already queued
 * or failed of it.
 */
export async function unsentOfPlannedBatch(params: {
  db: Queryable;
  target: StageTarget;
  planned: PlannedBatch;
  prior: StageBatchState;
}): Promise<{ messages: TaskMessage[]; carried: { queued: number; failed: number } }> {
  const { prior } = params;
  const pending = new Set(await batchesPendingTaskIds(params.db, prior.batchId));
  const messages = plannedMessages(params.target, prior.batchId, params.planned.tasks);
  return {
    messages: messages.filter((m) => pending.has(m.taskId)),
    carried: { queued: messages.length - pending.size - prior.failedTasks, failed: prior.failedTasks },
  };
}

export interface ClaimedBatch {
  batchId: string;
  jobId: string;
  jobType: string;
  stage: number;
}

/**
 * Step 2 again for batches this run has claimed, from their stored rows:
 * their still-unsent tasks, read in one query, each batch as one transport
 * batch. The messages are the same delivery as the first send (attempt 0,
 * message id = task id), so a broker with duplicate detection drops what the
 * crashed sender had already got through.
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
  const pending = await tasksPendingInBatches(
    params.db,
    params.batches.map((b) => b.batchId),
  );
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
