import { TransportError, errorMessage } from '../errors.js';
import { batchesRecordSend } from '../store/batches.js';
import type { Queryable } from '../store/pool.js';
import { batchesFail } from '../store/recovery.js';
import type { TaskMessage } from '../transports/message.js';
import type { Transport } from '../transports/transport.js';
import { backoffDelay, sleep, type BackoffPolicy } from './backoff.js';
import type { LeaseKeeper } from './leases.js';
import type { AdaptiveLimiter } from './limiter.js';

export interface SendPolicy extends BackoffPolicy {
  /** Sends of one batch within one run before it is left for retry-pending. */
  maxAttempts: number;
}

export const DEFAULT_SEND_POLICY: SendPolicy = { maxAttempts: 5, baseMs: 200, maxMs: 5_000 };

export interface BatchSendOutcome {
  acknowledged: string[];
  rejected: Array<{ taskId: string; reason: string }>;
  /** Tasks still without a message. */
  unsent: string[];
  /** The last error when some tasks are unsent. */
  error?: TransportError;
}

/**
 * Step 2 of the batch protocol: sends the messages, re-sending only the part
 * that failed, with backoff on retryable errors. A busy broker also lowers the
 * number of batches in flight. A permanent error returns at once.
 */
export async function sendBatchWithRetry(params: {
  transport: Transport;
  messages: TaskMessage[];
  policy: SendPolicy;
  limiter?: AdaptiveLimiter;
  shouldStop?: () => boolean;
}): Promise<BatchSendOutcome> {
  const { transport, policy, limiter } = params;
  const acknowledged: string[] = [];
  const rejected: BatchSendOutcome['rejected'] = [];
  let remaining = params.messages;
  let error: TransportError | undefined;
  for (let attempt = 1; remaining.length > 0; attempt++) {
    const report = await transport.send(remaining).catch((err: unknown) => ({
      acknowledged: [],
      rejected: [],
      error: err instanceof TransportError ? err : new TransportError('SEND_FAILED', errorMessage(err), { retryable: false, cause: err }),
    }));
    acknowledged.push(...report.acknowledged);
    rejected.push(...report.rejected);
    const done = new Set([...report.acknowledged, ...report.rejected.map((r) => r.taskId)]);
    remaining = remaining.filter((m) => !done.has(m.taskId));
    error = report.error;
    if (!error && remaining.length > 0) {
      error = new TransportError('SEND_INCOMPLETE', `${transport.name} reported nothing for ${remaining.length} messages`, {
        retryable: true,
      });
    }
    if (!error || remaining.length === 0) {
      error = undefined;
      break;
    }
    if (error.throttled) limiter?.throttled();
    if (!error.retryable || attempt >= policy.maxAttempts || params.shouldStop?.()) break;
    await sleep(backoffDelay(attempt, policy));
  }
  if (!error) limiter?.succeeded();
  return { acknowledged, rejected, unsent: remaining.map((m) => m.taskId), error };
}

export interface SendStepResult {
  queued: number;
  failed: number;
  pendingQueue: number;
  error?: TransportError;
}

/**
 * Steps 2 and 3 of the batch protocol for one claimed batch: send what is
 * still unsent (under a kept lease) and record the outcome in one statement.
 * `carried` counts tasks an earlier run already queued or failed. When tasks
 * stay unsent, the batch stays `pending_queue` with a next attempt time, or
 * with `giveUp` becomes `failed` for a human to look at.
 */
export async function sendAndRecord(params: {
  db: Queryable;
  transport: Transport;
  batchId: string;
  messages: TaskMessage[];
  carried?: { queued: number; failed: number };
  policy: SendPolicy;
  limiter?: AdaptiveLimiter;
  leases?: LeaseKeeper;
  shouldStop?: () => boolean;
  retryAfterMs?: number;
  giveUp?: boolean;
}): Promise<SendStepResult> {
  const { db, batchId } = params;
  const carried = params.carried ?? { queued: 0, failed: 0 };
  params.leases?.hold(batchId);
  try {
    const outcome = await sendBatchWithRetry(params);
    const queued = carried.queued + outcome.acknowledged.length;
    // A batch with nothing left to send (workers took every task already) is queued.
    const sentSomething = queued > 0 || params.messages.length === 0;
    const status = outcome.unsent.length > 0 ? 'pending_queue' : sentSomething ? 'queued' : 'failed';
    const error = outcome.error?.message ?? outcome.rejected[0]?.reason;
    await batchesRecordSend(db, {
      batchId,
      acknowledged: outcome.acknowledged,
      rejected: outcome.rejected,
      status,
      error,
      retryAfterMs: params.retryAfterMs,
    });
    let failed = carried.failed + outcome.rejected.length;
    let pendingQueue = outcome.unsent.length;
    if (pendingQueue > 0 && params.giveUp) {
      failed += await batchesFail(db, { batchId, error: `gave up after repeated send failures: ${error ?? 'unknown error'}` });
      pendingQueue = 0;
    }
    return { queued, failed, pendingQueue, error: outcome.error };
  } finally {
    params.leases?.release(batchId);
  }
}
