import { sleep } from '../../concurrency/backoff.js';
import type { AdaptiveLimiter } from '../../concurrency/limiter.js';
import { batchesStatus } from '../../store/batches.js';
import type { Queryable } from '../../store/pool.js';
import { sessionsReapDead } from '../../store/sessions.js';
import type { TransportProducer } from '../../transports/transport.js';
import type { LeaseKeeper } from './leases.js';
import { recordSentBatches } from './record.js';
import type { SendPolicy } from './send.js';
import { claimBatch, resendClaimedBatches } from './take-over.js';

const POLL_MS = 200;

/**
 * Batches another process was sending (a concurrent submit of the same job):
 * waits while their sender's lease is live, takes over any whose lease lapses
 * (that sender died) and sends it once itself, and returns each batch's final
 * counts, so concurrent submits of one job report the same end state.
 */
export async function awaitOtherSenders(params: {
  db: Queryable;
  transport: TransportProducer;
  leases: LeaseKeeper;
  limiter: AdaptiveLimiter;
  policy: SendPolicy;
  leaseSeconds: number;
  batchIds: string[];
  shouldStop: () => boolean;
}): Promise<Array<{ queued: number; failed: number; pendingQueue: number }>> {
  const { db, leases } = params;
  const counts: Array<{ queued: number; failed: number; pendingQueue: number }> = [];
  const triedOnce = new Set<string>();
  let waiting = [...new Set(params.batchIds)];
  while (waiting.length > 0) {
    // A sender whose process died lets go of its batches at once (its session ended), not a lease later.
    await sessionsReapDead(db);
    const rows = await batchesStatus(db, waiting);
    const stillWaiting: string[] = [];
    const takeOver = [];
    for (const row of rows) {
      if (row.status !== 'pending_queue') {
        counts.push({ queued: row.taskCount - row.failedTasks, failed: row.failedTasks, pendingQueue: 0 });
      } else if (triedOnce.has(row.batchId) || params.shouldStop()) {
        // This run already sent it once and it is still pending: the broker refused; retry-pending goes on.
        counts.push({ queued: 0, failed: row.failedTasks, pendingQueue: row.taskCount - row.failedTasks });
      } else if (!row.claimed && (await claimBatch({ db, leases, leaseSeconds: params.leaseSeconds, batchId: row.batchId }))) {
        triedOnce.add(row.batchId);
        takeOver.push(row);
        stillWaiting.push(row.batchId);
      } else {
        stillWaiting.push(row.batchId);
      }
    }
    if (takeOver.length > 0) {
      const sent = await resendClaimedBatches({
        db,
        transportFor: async () => params.transport,
        batches: takeOver,
        leases,
        limiter: params.limiter,
        policy: params.policy,
        shouldStop: params.shouldStop,
      });
      await recordSentBatches(db, leases, sent);
    } else if (stillWaiting.length > 0) {
      await sleep(POLL_MS);
    }
    waiting = stillWaiting;
  }
  return counts;
}
