import { pause } from '../../concurrency/pause.js';
import { errorMessage, TransportError } from '../../errors.js';
import { tasksRelease } from '../../store/completion.js';
import type { Queryable } from '../../store/pool.js';
import type { ReceivedMessage, TransportConsumer } from '../../transports/transport.js';
import type { Advancer } from './advancer.js';
import { handleDelivery } from './delivery.js';
import { handleGroup } from './group.js';
import { GroupSizer } from './group-size.js';
import type { WorkOptions } from './options.js';
import { Renewer } from './renewal.js';
import { settle, type WorkScope } from './scope.js';
import type { Stopping } from './stopping.js';
import type { Tally } from './tally.js';
import { Wakeup } from './wakeup.js';

const DEFAULT_MAX_GROUP = 1_000;
/**
 * Claimed groups in flight: handlers of one run while the statements of the
 * others do (3 measured 10-20% above 2 for hello_world on 2 cores).
 */
const GROUPS_IN_FLIGHT = 3;
const RECEIVE_WAIT_MS = 1_000;
/**
 * How long retryable receive failures (timeouts, a busy broker) are retried,
 * with backoff, before the run stops with the error: a worker outlives a
 * broker's bad minute, not an outage.
 */
const RECEIVE_GIVE_UP_MS = 60_000;
const RECEIVE_BACKOFF_MS = { first: 250, max: 5_000 };

/**
 * Receives until a stop is requested, then waits for everything in flight
 * (finished, or given back when the grace period ends). Broker deliveries get
 * one handler slot each (only as many are received as slots are free, so no
 * message waits locked in memory); deliveries the transport claimed while
 * receiving come in groups. Which kind the transport gives is read from the
 * deliveries themselves (`claimed`), so the loop never asks which transport it has.
 */
export async function runReceiveLoop(params: {
db: Queryable;
consumer: TransportConsumer;
options: WorkOptions;
tally: Tally;
stopping: Stopping;
advancer: Advancer;
/** True when a finished stage still waits to be advanced (by anyone). */
openStageCompletions: () => Promise<boolean>;
notice: (message: string) => void;
}): Promise<void> {
const { db, consumer, options, tally, stopping, advancer, openStageCompletions, notice } = params;
  const wakeup = new Wakeup();
  const renewer = new Renewer({
    db,
    consumer,
    worker: options.worker,
    leaseSeconds: options.leaseSeconds,
    onLeaseLost: (taskId) => {
      tally.add('leaseLost');
      notice(`task ${taskId}: its lease was taken over by another worker while its handler ran`);
    },
    onLockLost: (taskId) => {
      tally.add('lockLost');
      notice(`task ${taskId}: its message lock was lost while its handler ran`);
    },
    onError: notice,
  });
  stopping.signal.addEventListener('abort', () => renewer.abortAll(), { once: true });
  options.signal?.addEventListener('abort', () => wakeup.fire(), { once: true });
  let retryWaitUntil = 0;
  let endReceiving!: () => void;
  const receivingEnded = new Promise<void>((resolve) => (endReceiving = resolve));
  const scope: WorkScope = {
    db,
    consumer,
    worker: options.worker,
    leaseSeconds: options.leaseSeconds,
    concurrency: options.concurrency,
    tally,
    renewer,
    stopping,
    receivingEnded,
    stageFinished: () => advancer.request(),
    retryScheduled: (at) => (retryWaitUntil = Math.max(retryWaitUntil, at.getTime())),
    notice,
  };
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let deliveries = 0;
  let unclaimed = 0;
  let groups = 0;
  let grouped = false;
  const track = (work: Promise<void>, done: () => void) => {
    const p = work
      .catch((err: unknown) => {
        failure ??= err;
        stopping.request('error');
      })
      .finally(() => {
        done();
        inFlight.delete(p);
        options.onProgress?.(tally.counts);
        wakeup.fire();
      });
    inFlight.add(p);
  };

  let lastArrival = Date.now();
  let receiveFailures = 0;
  let failingSince = 0;
  const sizer = new GroupSizer(options.concurrency, options.groupSize ?? DEFAULT_MAX_GROUP);
  const waitMs = options.untilIdle ? Math.min(RECEIVE_WAIT_MS, options.idleMs) : RECEIVE_WAIT_MS;
  try {
    while (!stopping.stopped) {
      const budget = options.maxTasks === undefined ? Infinity : options.maxTasks - tally.counts.tasks - unclaimed;
      if (budget <= 0 && unclaimed === 0) {
        stopping.request('max-tasks');
        break;
      }
      const free = grouped ? (groups < GROUPS_IN_FLIGHT ? sizer.next() : 0) : options.concurrency - deliveries;
      const want = Math.min(free, budget);
      if (want <= 0) {
        await wakeup.wait();
        continue;
      }
      let received: ReceivedMessage[];
      try {
        received = await consumer.receive(want, waitMs);
        receiveFailures = 0;
      } catch (err) {
        if (receiveFailures++ === 0) failingSince = Date.now();
        if (!(err instanceof TransportError && err.retryable) || Date.now() - failingSince > RECEIVE_GIVE_UP_MS) throw err;
        notice(`receive failed (trying again): ${errorMessage(err)}`);
        await pause(Math.min(RECEIVE_BACKOFF_MS.max, RECEIVE_BACKOFF_MS.first * 2 ** (receiveFailures - 1)), options.signal);
        continue;
      }
      if (stopping.stopped) {
        // Arrived while the stop was requested: never started, handed straight back.
        await returnUnstarted(received);
        break;
      }
      if (received.length === 0) {
        const quiet = Date.now() - lastArrival >= options.idleMs && inFlight.size === 0 && !advancer.busy && Date.now() >= retryWaitUntil;
        if (options.untilIdle && quiet && !(await openStageCompletions())) stopping.request('idle');
        continue;
      }
      lastArrival = Date.now();
      const claimed = received.filter((m) => m.claimed);
      if (claimed.length > 0) {
        grouped = true;
        groups++;
        const size = claimed.length;
        track(
          handleGroup(scope, claimed).then(({ handlersMs }) => sizer.record(size, handlersMs)),
          () => groups--,
        );
      }
      for (const m of received.filter((r) => !r.claimed)) {
        deliveries++;
        unclaimed++;
        let counted = true;
        const claimedNow = () => {
          if (counted) unclaimed--;
          counted = false;
        };
        track(handleDelivery(scope, m, claimedNow), () => {
          claimedNow();
          deliveries--;
        });
      }
    }
  } catch (err) {
    failure ??= err;
    stopping.request('error');
  } finally {
    endReceiving();
    while (inFlight.size > 0) await Promise.all(inFlight);
    await renewer.stop();
  }
  if (failure) throw failure;

  async function returnUnstarted(received: ReceivedMessage[]): Promise<void> {
    const claimed = received.filter((m) => m.claimed && m.message).map((m) => m.message!.taskId);
    if (claimed.length > 0) await tasksRelease({ db, worker: options.worker, taskIds: claimed });
    await Promise.all(received.filter((m) => !m.claimed).map((m) => settle(scope, m, undefined, 'abandon', () => consumer.abandon(m))));
  }
}
