import { sleep } from '../../concurrency/backoff.js';
import { errorMessage } from '../../errors.js';
import { CHANNELS, type Listener, listen } from '../../store/notify.js';
import type { Pool } from '../../store/pool.js';
import type { TransportConsumer } from '../../transports/transport.js';
import type { Notify, WorkEvents } from '../events.js';
import type { TransportResolver } from '../protocol/job-transport.js';
import { DEFAULT_SEND_POLICY } from '../protocol/send.js';
import { Advancer } from './advancer.js';
import { IdleWatch } from './idle.js';
import { reportJobsNotServed } from './not-served.js';
import type { WorkOptions, WorkSummary } from './options.js';
import { runPipeline } from './pipeline.js';
import { Renewer } from './renewal.js';
import type { WorkScope } from './scope.js';
import { StoppedJobs } from './stopped-jobs.js';
import { Stopping } from './stopping.js';
import { Sweeper } from './sweeper.js';
import { WorkTally } from './tally.js';

/** The sweep runs at least this often; a retry or a release owed a message wakes it at once. */
const SWEEP_INTERVAL_MS = 5_000;

/**
 * `geo work`: receives deliveries, runs their handlers (at most
 * `concurrency` at once), records outcomes through the completion API,
 * acknowledges messages, advances finished stages, and sweeps (delivers
 * retries, takes over dead workers' tasks, finishes what crashes left).
 * Returns when asked to stop (signal, --max-tasks, --until-idle) and
 * everything in flight has finished or been given back; throws when the
 * database or the broker fails for good.
 */
export async function runWork(params: {
  db: Pool;
  /** Not needed with `advanceOnly`. */
  consumer?: TransportConsumer;
  transportFor: TransportResolver;
  options: WorkOptions;
}): Promise<WorkSummary> {
  const { db, options, consumer } = params;
  const startedAt = Date.now();
  const notice: Notify = (message, detail) => options.onNotice?.(message, detail);
  const events: WorkEvents = options.events ?? {};
  const tally = new WorkTally();
  const stopping = new Stopping(options.graceMs);
  const onAbort = () => stopping.request('signal');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const shared = { ...options.advance, session: options.session, signal: stopping.signal };
  const advancer = new Advancer({
    db,
    transportFor: params.transportFor,
    options: { ...shared, events },
    backstopMs: options.backstopMs ?? 5_000,
    onAdvanced: (a) => {
      tally.advanced.push(a);
      events.stageAdvanced?.(a);
    },
    onError: (message) => notice(message, { event: 'advance_failed' }),
  });
  const sweeper = new Sweeper({
    db,
    transportFor: params.transportFor,
    options: { ...shared, sendPolicy: options.advance.sendPolicy ?? DEFAULT_SEND_POLICY },
    intervalMs: SWEEP_INTERVAL_MS,
    notice,
  });
  const stoppedJobs = new StoppedJobs(db, notice, events);
  const listener = await listenForWork(db, { advancer, sweeper, stoppedJobs }, notice);
  sweeper.request();
  advancer.request();
  const serving = !options.advanceOnly && consumer !== undefined;
  const stopReporting = serving ? await reportJobsNotServed({ db, transport: options.transport, everyMs: SWEEP_INTERVAL_MS, notice }) : () => undefined;
  const idle = new IdleWatch({
    db,
    untilIdle: options.untilIdle,
    idleMs: options.idleMs,
    leaseSeconds: options.leaseSeconds,
    transport: options.transport,
    tasksAreMessages: consumer?.claimsOnReceive ?? false,
    awaiting: serving ? options.destination : undefined,
    worker: options.worker,
    advancer,
  });
  try {
    if (serving) {
      const scope = workScope({ db, consumer, options, tally, stopping, notice, events, stoppedJobs, stageFinished: () => advancer.request() });
      await runPipeline({ scope, options, idle: (quiet) => idle.check(quiet) });
    } else await advanceOnly(options, stopping, () => idle.check({ since: startedAt, longestLockMs: 0 }));
  } finally {
    // An advancement in progress may finish (its signal aborts when the grace period ends).
    stopReporting();
    await advancer.close();
    await sweeper.close();
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
    heldByOthers: idle.verdict.heldByOthers,
    jobsNotServed: idle.verdict.notServed,
    unreceived: idle.verdict.unreceived,
  };
}

/**
 * Wakes the advancer when a stage completes and the sweeper when a redelivery is owed (both also
 * run on timers), and tells the pipeline which jobs stopped running.
 */
async function listenForWork(db: Pool, to: { advancer: Advancer; sweeper: Sweeper; stoppedJobs: StoppedJobs }, notice: Notify): Promise<Listener | undefined> {
  try {
    return await listen(
      db,
      {
        [CHANNELS.stageCompleted]: () => to.advancer.request(),
        [CHANNELS.redeliveries]: () => to.sweeper.request(),
        [CHANNELS.jobChanged]: (jobId) => void to.stoppedJobs.changed(jobId),
      },
      (err) => notice(`notifications stopped (${errorMessage(err)}); advancing and sweeping on the timer only`, { event: 'notifications_lost' }),
    );
  } catch (err) {
    notice(`cannot listen for notifications (${errorMessage(err)}); advancing and sweeping on the timer only`, { event: 'notifications_lost' });
    return undefined;
  }
}

function workScope(params: {
  db: Pool;
  consumer: TransportConsumer;
  options: WorkOptions;
  tally: WorkTally;
  stopping: Stopping;
  notice: Notify;
  events: WorkEvents;
  stoppedJobs: StoppedJobs;
  stageFinished: () => void;
}): WorkScope {
  const { db, consumer, tally, stopping, notice, events, stoppedJobs, stageFinished, options } = params;
  const renewer = new Renewer({
    db,
    consumer,
    leaseSeconds: options.leaseSeconds,
    onLeaseLost: (taskId) => {
      tally.add('leaseLost');
      events.leaseLost?.();
      notice(`task ${taskId}: its claim was taken over while its handler ran`, { event: 'lease_lost', taskId });
    },
    onLockLost: (taskId) => {
      tally.add('lockLost');
      events.lockLost?.();
      notice(`task ${taskId}: its message lock was lost while its handler ran`, { event: 'lock_lost', taskId });
    },
    onRenewed: (n) => events.leaseRenewed?.(n),
    onError: (message) => notice(message, { event: 'renewal_failed' }),
  });
  return { db, consumer, worker: options.worker, leaseSeconds: options.leaseSeconds, tally, renewer, stopping, stoppedJobs, stageFinished, notice, events };
}

/** --advance-only: no receiving; advancement and the sweep run until a stop (or --until-idle finds the work done). */
async function advanceOnly(options: WorkOptions, stopping: Stopping, idle: () => Promise<boolean>): Promise<void> {
  const wake = new AbortController();
  stopping.signal.addEventListener('abort', () => wake.abort(), { once: true });
  options.signal?.addEventListener('abort', () => wake.abort(), { once: true });
  while (!stopping.stopped) {
    await sleep(Math.min(500, options.idleMs), wake.signal);
    if (!stopping.stopped && (await idle())) stopping.request('idle');
  }
}
