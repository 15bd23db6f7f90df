import type { TransportName } from '../config/index.js';
import { DependencyError, type GeoError } from '../errors.js';
import type { TransportResolver } from './targets.js';
import type { Pool } from '../store/pool.js';
import { tasksMarkRequeued, tasksReclaimStale, type StaleTask } from '../store/recovery.js';
import { buildTaskMessage, type TaskMessage } from '../transports/message.js';
import { MAX_BATCH_SIZE } from './batching.js';
import { sendBatchWithRetry, type SendPolicy } from './send-batch.js';

/**
 * Tasks stuck in `processing` past `staleAfterSeconds` had a worker that died:
 * each gets a new message (or, past its retry limit, becomes `failed`).
 * With the local transport the row itself is the message.
 */
export async function requeueStaleTasks(params: {
  db: Pool;
  transportFor: TransportResolver;
  /** Jobs whose destination cannot be reached with the configuration: left alone. */
  excludeJobs: string[];
  options: {
    staleAfterSeconds: number;
    maxTaskRetries: number;
    leaseSeconds: number;
    jobId?: string;
    transport?: TransportName;
    sendPolicy: SendPolicy;
  };
}): Promise<{ requeued: number; failed: number; stoppedBy?: GeoError }> {
  const { db, options } = params;
  let requeued = 0;
  let failed = 0;
  for (;;) {
    const claimed = await tasksReclaimStale(db, {
      staleAfterSeconds: options.staleAfterSeconds,
      maxRetries: options.maxTaskRetries,
      leaseSeconds: options.leaseSeconds,
      jobId: options.jobId,
      transport: options.transport,
      limit: 1_000,
      excludeJobs: params.excludeJobs,
    });
    failed += claimed.failed;
    if (claimed.requeue.length === 0 && claimed.failed === 0) return { requeued, failed };
    for (const tasks of groupBy(claimed.requeue, (t) => `${t.transport} ${JSON.stringify(t.destination)}`).values()) {
      const first = tasks[0]!;
      const transport = await params.transportFor({ transport: first.transport as TransportName, destination: first.destination });
      for (let i = 0; i < tasks.length; i += MAX_BATCH_SIZE) {
        const messages = tasks.slice(i, i + MAX_BATCH_SIZE).map(toMessage);
        const outcome = await sendBatchWithRetry({ transport, messages, policy: options.sendPolicy });
        await tasksMarkRequeued(db, outcome.acknowledged);
        requeued += outcome.acknowledged.length;
        if (outcome.error) {
          // The unsent ones stay `processing` and come round again after a lease.
          const stoppedBy = new DependencyError(outcome.error.code, outcome.error.message, { cause: outcome.error });
          return { requeued, failed, stoppedBy };
        }
      }
    }
  }
}

/**
 * A re-delivery after the task's last claim (its worker died): attempt = the
 * claims so far, the same number a worker's retry after that claim would
 * carry, so each re-delivery has a message id of its own (see messageIdOf).
 * At least 1: a task `processing` without a recorded claim is still a re-delivery.
 */
function toMessage(task: StaleTask): TaskMessage {
  return buildTaskMessage(task, Math.max(1, task.attempt));
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
