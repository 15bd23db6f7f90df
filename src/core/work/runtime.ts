import { pause } from '../../concurrency/pause.js';
import { errorMessage, TransportError } from '../../errors.js';
import { stageCompletionsCountOpen, tasksRelease } from '../../store/completion.js';
import { stageCompletionsListen, type Listener } from '../../store/notify.js';
import type { Pool } from '../../store/pool.js';
import type { ReceivedMessage, TransportConsumer } from '../../transports/transport.js';
import type { TransportResolver } from '../targets.js';
import { Advancer } from './advancer.js';
import { handleDelivery } from './delivery.js';
import { handleGroup } from './group.js';
import { GroupSizer } from './group-size.js';
import type { WorkOptions, WorkSummary } from './options.js';
import { Renewer } from './renewal.js';
import { settle, type WorkScope } from './scope.js';
import { Stopping } from './stopping.js';
import { Tally } from './tally.js';
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
 * `geo work`: receives deliveries, runs their handlers (at most
 * `concurrency` at once), records outcomes through the completion API,
 * settles messages, and advances finished stages. Returns when asked to
 * stop (signal, --max-tasks, --until-idle) and everything in flight has
 * finished or been given back; throws when the database or the broker fails
 * for good.
 */
export async function runWork(params: {
  db: Pool;
  /** Not needed with `advanceOnly`. */
  consumer?: TransportConsumer;
  transportFor: TransportResolver;
  options: WorkOptions;
}): Promise<WorkSummary> {
  const { db, options } = params;
  const startedAt = Date.now();
  const notice = (message: string) => options.onNotice?.(message);
  const tally = new Tally();
  const stopping = new Stopping(options.graceMs);
  const onAbort = () => stopping.request('signal');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();

  const advancer = new Advancer({
    db,
    transportFor: params.transportFor,
    options: { ...options.advance, signal: stopping.signal },
    backstopMs: options.backstopMs ?? 5_000,
    onAdvanced: (a) => tally.advanced.push(a),
    onError: notice,
  });
  let listener: Listener | undefined;
  try {
    listener = await stageCompletionsListen(db, () => advancer.request(), (err) =>
      notice(`stage notifications stopped (${errorMessage(err)}); advancing on the timer only`),
    );
  } catch (err) {
    notice(`cannot listen for stage notifications (${errorMessage(err)}); advancing on the timer only`);
  }
  advancer.request();

  try {
    if (options.advanceOnly || !params.consumer) await advanceOnly();
    else await receiveLoop(params.consumer);
  } finally {
    // An advancement in progress may finish (its signal aborts when the grace period ends).
    await advancer.close();
    stopping.end();
    await listener?.close();
  }
  const elapsedMs = Date.now() - startedAt;
  return {
    ...tally.counts,
    advanced: tally.advanced,
    elapsedMs,
    tasksPerSecond: elapsedMs > 0 ? Math.round((tally.counts.tasks / elapsedMs) * 1000) : 0,
    stoppedBy: stopping.reason,
  };

  async function openStageCompletions(): Promise<boolean> {
    const open = await stageCompletionsCountOpen({ db });
    // An open row nobody is handling (its advancer died) is picked up once its lease lapses.
    if (open > 0) advancer.request();
    return open > 0;
  }

  async function advanceOnly(): Promise<void> {
    const wake = new AbortController();
    stopping.signal.addEventListener('abort', () => wake.abort(), { once: true });
    options.signal?.addEventListener('abort', () => wake.abort(), { once: true });
    while (!stopping.stopped) {
      await pause(Math.min(500, options.idleMs), wake.signal);
      if (!options.untilIdle || stopping.stopped || advancer.busy) continue;
      if (Date.now() - Math.max(startedAt, advancer.lastAdvancedAt) < options.idleMs) continue;
      if (!(await openStageCompletions())) stopping.request('idle');
    }
  }

  async function receiveLoop(consumer: TransportConsumer): Promise<void> {
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
}
