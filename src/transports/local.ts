import { type BackoffPolicy, backoffDelay, sleep } from '../concurrency/backoff.js';
import { TransportError } from '../errors.js';
import { tasksClaimNext, tasksRelease, tasksRenew } from '../store/completion.js';
import type { Queryable } from '../store/pool.js';
import { buildTaskMessage } from './message.js';
import type { ConsumerOptions, ReceivedMessage, TransportConsumer, TransportProducer } from './transport.js';

const TARGET = 'the local PostgreSQL queue';
/** Empty claims back off from the first to the last delay while `receive` waits. */
const POLL_BACKOFF: BackoffPolicy = { baseMs: 20, maxMs: 500, jitter: 'none' };

/**
 * The zero-configuration transport, producer half: the tasks table is the
 * queue. A task row written with status `queued` is the message, so a batch
 * is queued in the transaction that writes it and never needs recovery, and
 * a task that must run again is made ready by its row (nothing to schedule).
 */
export function createLocalProducer(): TransportProducer {
  return {
    name: 'local',
    writesWithTasks: true,
    target: TARGET,
    async send(messages) {
      return { acknowledged: messages.map((m) => m.taskId), rejected: [] };
    },
    async schedule(messages) {
      return { acknowledged: messages.map((m) => m.taskId), rejected: [], refs: new Map() };
    },
    async close() {},
  };
}

/**
 * The local transport, consumer half, over the completion API's queue
 * function. Receiving claims the tasks (geo_claim_next, only of the job
 * types this worker can run), so each delivery carries its claim and the
 * worker does not claim it again. Outcomes live in the database alone:
 * complete and deadLetter have nothing left to do; abandon gives the claim
 * back (geo_release_tasks) and renew extends it (geo_renew_tasks).
 */
export function createLocalConsumer(db: Queryable, options: ConsumerOptions): TransportConsumer {
  const { worker, leaseSeconds } = options;
  const stopping = new AbortController();
  const held = (m: ReceivedMessage) => ({ taskId: m.receipt, claim: m.claimed!.claim });

  return {
    name: 'local',
    target: TARGET,
    claimsOnReceive: true,
    async receive(max, waitMs) {
      const deadline = Date.now() + waitMs;
      for (let emptyClaims = 1; ; emptyClaims++) {
        const claimedAt = Date.now();
        const tasks = await tasksClaimNext({ db, worker, maxTasks: Math.max(1, max), leaseSeconds, jobTypes: options.jobTypes });
        const left = deadline - Date.now();
        if (tasks.length > 0 || left <= 0 || stopping.signal.aborted) {
          // Measured from before the claim: the database's lease ends no earlier.
          const lockedUntil = new Date(claimedAt + leaseSeconds * 1000);
          return tasks.map((task) => {
            const message = buildTaskMessage(task);
            return {
              body: message,
              message,
              deliveryCount: task.attempt,
              messageId: task.taskId,
              receipt: task.taskId,
              lockedUntil,
              claimed: { claim: task.claim, attempt: task.attempt, taskType: task.taskType, parameters: task.parameters },
            };
          });
        }
        await sleep(Math.min(backoffDelay(emptyClaims, POLL_BACKOFF), left), stopping.signal);
      }
    },
    async complete() {},
    async abandon(m) {
      await tasksRelease({ db, held: [held(m)] });
    },
    async deadLetter() {},
    async renew(m) {
      const renewedAt = Date.now();
      const kept = await tasksRenew({ db, held: [held(m)], leaseSeconds });
      if (!kept.has(m.receipt)) {
        throw new TransportError('LOCK_LOST', `${TARGET}: the claim of task ${m.receipt} no longer holds (its lease lapsed)`, {
          retryable: false,
        });
      }
      const until = new Date(renewedAt + leaseSeconds * 1000);
      Object.assign(m, { lockedUntil: until });
      return until;
    },
    async close() {
      stopping.abort();
    },
  };
}
