import { GeoError, TransportError, errorMessage } from '../../errors.js';
import { tasksRelease } from '../../store/completion.js';
import type { Queryable } from '../../store/pool.js';
import type { ReceivedMessage, TransportConsumer } from '../../transports/transport.js';
import type { HeldTask, Renewer } from './renewal.js';
import type { Stopping } from './stopping.js';
import type { Tally } from './tally.js';

/** What the per-delivery and per-group handling share within one worker run. */
export interface WorkScope {
  db: Queryable;
  consumer: TransportConsumer;
  worker: string;
  leaseSeconds: number;
  /** Handlers of one group run at most this many at once. */
  concurrency: number;
  tally: Tally;
  renewer: Renewer;
  stopping: Stopping;
  /** Resolves once the receive loop has ended (no receive in flight). */
  receivingEnded: Promise<void>;
  /** A completion or failure reported that it finished its stage. */
  stageFinished(): void;
  /** A retry was scheduled for `at` (idle detection waits for it). */
  retryScheduled(at: Date): void;
  notice(message: string): void;
}

/**
 * Settles a delivery. A lost lock is counted and logged, never fatal: the
 * message comes back and its next claim finds the task finished. Any other
 * transport error is logged for the same reason; errors that are not the
 * transport's (a bug, the database) go on up.
 */
export async function settle(scope: WorkScope, m: ReceivedMessage, held: HeldTask | undefined, what: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    const task = m.message?.taskId ?? m.messageId;
    if (err instanceof GeoError && err.code === 'LOCK_LOST') {
      if (!held?.lockLost) scope.tally.add('lockLost');
      if (held) held.lockLost = true;
      scope.notice(`${what} of task ${task}: the message lock was lost; the message comes back and is settled then`);
      return;
    }
    if (err instanceof TransportError) {
      scope.notice(`${what} of task ${task} failed (the message comes back when its lock lapses): ${errorMessage(err)}`);
      return;
    }
    throw err;
  }
}

/**
 * Gives unfinished tasks back at shutdown: their leases first
 * (geo_release_tasks; the attempt stays counted), so that a message given
 * back can be claimed at once, then the messages the transport did not claim itself.
 */
export async function giveBack(scope: WorkScope, items: ReadonlyArray<{ held: HeldTask; delivery: ReceivedMessage }>): Promise<void> {
  if (items.length === 0) return;
  // A receive still waiting would claim a released task straight back (the local queue's does).
  await scope.receivingEnded;
  await tasksRelease({ db: scope.db, worker: scope.worker, taskIds: items.map((i) => i.held.taskId) });
  scope.tally.add('released', items.length);
  await Promise.all(
    items.filter((i) => !i.delivery.claimed).map((i) => settle(scope, i.delivery, i.held, 'abandon', () => scope.consumer.abandon(i.delivery))),
  );
}
