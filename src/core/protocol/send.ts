import { type BackoffPolicy, backoffDelay, sleep } from '../../concurrency/backoff.js';
import type { AdaptiveLimiter } from '../../concurrency/limiter.js';
import { errorMessage, TransportError } from '../../errors.js';
import type { TaskMessage } from '../../transports/message.js';
import type { TransportProducer } from '../../transports/transport.js';
import type { LeaseKeeper } from './leases.js';

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
  /** Sends made, failed ones included. */
  attempts: number;
  /** The last failed attempt's error, even when a later attempt succeeded. */
  lastAttemptError?: string;
}

/**
 * Step 2 of the batch protocol: sends the messages, re-sending only the part
 * that failed, with backoff on retryable errors. A busy broker also lowers the
 * number of batches in flight. A permanent error returns at once.
 */
export async function sendBatchWithRetry(params: {
  transport: TransportProducer;
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
  let lastAttemptError: string | undefined;
  let attempts = 0;
  for (let attempt = 1; remaining.length > 0; attempt++) {
    attempts = attempt;
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
    if (error) lastAttemptError = error.message;
    if (!error || remaining.length === 0) {
      error = undefined;
      break;
    }
    if (error.throttled) limiter?.throttled();
    if (!error.retryable || attempt >= policy.maxAttempts || params.shouldStop?.()) break;
    await sleep(backoffDelay(attempt, policy));
  }
  if (!error) limiter?.succeeded();
  return { acknowledged, rejected, unsent: remaining.map((m) => m.taskId), error, attempts, lastAttemptError };
}

/** Step 2's outcome for one batch, waiting to be recorded (step 3). */
export interface SentBatch extends BatchSendOutcome {
  batchId: string;
  /** Tasks an earlier run already queued or failed (a resumed batch). */
  carried: { queued: number; failed: number };
  /** Stop retrying this batch if tasks stay unsent: it becomes `failed`. */
  giveUp: boolean;
  retryAfterMs: number;
  /** Whether there was anything to send (a resumed batch may have none left). */
  hadMessages: boolean;
}

/**
 * Step 2 for one claimed batch: sends what is still unsent, holding one of
 * the limiter's slots while it does. The batch's lease must already be held
 * in `leases` (from its insert or claim) and stays held until it is recorded.
 */
export async function sendClaimedBatch(params: {
  transport: TransportProducer;
  batchId: string;
  messages: TaskMessage[];
  policy: SendPolicy;
  limiter: AdaptiveLimiter;
  leases: LeaseKeeper;
  shouldStop?: () => boolean;
  carried?: { queued: number; failed: number };
  retryAfterMs?: number;
  giveUp?: boolean;
}): Promise<SentBatch> {
  const { batchId, limiter, leases } = params;
  await limiter.acquire();
  try {
    const outcome = await sendBatchWithRetry({
      ...params,
      shouldStop: () => leases.isLost(batchId) || (params.shouldStop?.() ?? false),
    });
    return {
      ...outcome,
      batchId,
      carried: params.carried ?? { queued: 0, failed: 0 },
      giveUp: params.giveUp ?? false,
      retryAfterMs: params.retryAfterMs ?? 0,
      hadMessages: params.messages.length > 0,
    };
  } finally {
    limiter.release();
  }
}
