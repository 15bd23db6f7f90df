import { pause } from '../concurrency/pause.js';
import { TransportError } from '../errors.js';
import { tasksClaimNext, tasksRelease, tasksRenew } from '../store/completion.js';
import type { Queryable } from '../store/pool.js';
import { buildTaskMessage } from './message.js';
import type { ConsumerOptions, ReceivedMessage, TransportConsumer, TransportProducer } from './transport.js';

const TARGET = 'the local PostgreSQL queue';
/** Empty claims back off from the first to the last delay while `receive` waits. */
const POLL_MS = { first: 20, max: 500 };

/**
 * The zero-configuration transport, producer half: the tasks table is the
 * queue. A task row written with status `queued` is the message, so a batch
 * is queued in the transaction that writes it and never needs recovery.
 */
export function createLocalProducer(): TransportProducer {
  return {
    name: 'local',
    writesWithTasks: true,
    target: TARGET,
    async send(messages) {
      return { acknowledged: messages.map((m) => m.taskId), rejected: [] };
    },
    async close() {},
  };
}

/**
 * The local transport, consumer half, over the completion API's queue
 * functions. Receiving claims the tasks (geo_claim_next), so each message
 * says `claimed`: the worker skips geo_claim_task. Completing, retrying and
 * failing happen in the database through the completion API, so complete,
 * deliverLater (geo_fail_task set the retry time) and deadLetter
 * (geo_fail_task failed the row) have nothing left to do here; abandon gives
 * the lease back (geo_release_tasks) and renew extends it (geo_renew_tasks).
 */
export function createLocalConsumer(db: Queryable, options: ConsumerOptions): TransportConsumer {
  const { worker, leaseSeconds } = options;
  const stopping = new AbortController();
  const lost = (m: ReceivedMessage) =>
    new TransportError('LOCK_LOST', `${TARGET}: worker ${worker} no longer holds task ${m.receipt} (its lease lapsed)`, {
      retryable: false,
    });

  return {
    name: 'local',
    target: TARGET,
    async receive(max, waitMs) {
      const deadline = Date.now() + waitMs;
      for (let delay = POLL_MS.first; ; delay = Math.min(POLL_MS.max, delay * 2)) {
        const claimedAt = Date.now();
        const tasks = await tasksClaimNext({ db, worker, maxTasks: Math.max(1, max), leaseSeconds });
        const left = deadline - Date.now();
        if (tasks.length > 0 || left <= 0 || stopping.signal.aborted) {
          // Measured from before the claim: the database's lease ends no earlier.
          const lockedUntil = new Date(claimedAt + leaseSeconds * 1000);
          return tasks.map((task) => {
            // As on a broker: attempt counts the claims before this delivery (see buildTaskMessage).
            const message = buildTaskMessage(task, Math.max(0, task.attempt - 1));
            return {
              body: message,
              message,
              deliveryCount: task.attempt,
              messageId: task.taskId,
              receipt: task.taskId,
              lockedUntil,
              claimed: { attempt: task.attempt },
            };
          });
        }
        await pause(Math.min(delay, left), stopping.signal);
      }
    },
    async complete() {},
    async abandon(m) {
      await tasksRelease({ db, worker, taskIds: [m.receipt] });
    },
    async deadLetter() {},
    async deliverLater() {},
    async renew(m) {
      const renewedAt = Date.now();
      const held = await tasksRenew({ db, worker, taskIds: [m.receipt], leaseSeconds });
      if (!held.has(m.receipt)) throw lost(m);
      const until = new Date(renewedAt + leaseSeconds * 1000);
      Object.assign(m, { lockedUntil: until });
      return until;
    },
    async close() {
      stopping.abort();
    },
  };
}
