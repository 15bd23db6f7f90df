import { pause } from '../../concurrency/pause.js';
import { errorMessage } from '../../errors.js';
import { jobsNotServed, type TaskHolder, type UnservedJob } from '../../store/holders.js';
import { CHANNELS, listen, type Listener } from '../../store/notify.js';
import type { Pool } from '../../store/pool.js';
import type { TransportConsumer } from '../../transports/transport.js';
import { jobTypeNames } from '../job-types/registry.js';
import { DEFAULT_SEND_POLICY } from '../protocol/send.js';
import type { TransportResolver } from '../protocol/job-transport.js';
import { Advancer } from './advancer.js';
import { judgeIdle } from './idle.js';
import type { WorkOptions, WorkSummary } from './options.js';
import { runPipeline } from './pipeline.js';
import { Renewer } from './renewal.js';
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
  const { db, options } = params;
  const startedAt = Date.now();
  const notice = (message: string) => options.onNotice?.(message);
  const tally = new WorkTally();
  const stopping = new Stopping(options.graceMs);
  const onAbort = () => stopping.request('signal');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  const backstopMs = options.backstopMs ?? 5_000;
  const shared = { ...options.advance, session: options.session, signal: stopping.signal };

  const advancer = new Advancer({
    db,
    transportFor: params.transportFor,
    options: shared,
    backstopMs,
    onAdvanced: (a) => tally.advanced.push(a),
    onError: notice,
  });
  const sweeper = new Sweeper({
    db,
    transportFor: params.transportFor,
    options: { ...shared, sendPolicy: options.advance.sendPolicy ?? DEFAULT_SEND_POLICY },
    intervalMs: SWEEP_INTERVAL_MS,
    notice,
  });
  let listener: Listener | undefined;
  try {
    listener = await listen(
      db,
      { [CHANNELS.stageCompleted]: () => advancer.request(), [CHANNELS.redeliveries]: () => sweeper.request() },
      (err) => notice(`notifications stopped (${errorMessage(err)}); advancing and sweeping on the timer only`),
    );
  } catch (err) {
    notice(`cannot listen for notifications (${errorMessage(err)}); advancing and sweeping on the timer only`);
  }
  sweeper.request();
  advancer.request();
  // Tasks of a job type no module here defines are left alone (the local queue does not claim them,
  // a broker's are given back): said once per job type, at start and as new jobs appear.
  const told = new Set<string>();
  const tellNotServed = async () => {
    if (options.advanceOnly) return;
    for (const job of await jobsNotServed(db, { transport: options.transport, jobTypes: jobTypeNames() })) {
      if (told.has(job.jobType)) continue;
      told.add(job.jobType);
      notice(
        `job ${job.jobId.slice(0, 16)} is of job type "${job.jobType}", which no module here defines: its tasks are left ` +
          'for a worker started with --job-types (or GEO_JOB_TYPES) naming it',
      );
    }
  };
  const notServedTimer = setInterval(() => void tellNotServed().catch((err: unknown) => notice(errorMessage(err))), SWEEP_INTERVAL_MS);
  notServedTimer.unref();
  await tellNotServed();

  let heldByOthers: TaskHolder[] = [];
  let notServed: UnservedJob[] = [];
  /** Whether the work is done, after nothing arrived since `quietSince` (--until-idle). */
  const idle = async (quietSince: number): Promise<boolean> => {
    if (!options.untilIdle || advancer.busy) return false;
    if (Date.now() - Math.max(quietSince, advancer.lastAdvancedAt) < options.idleMs) return false;
    const verdict = await judgeIdle({
      db,
      transport: options.transport,
      tasksAreMessages: params.consumer?.claimsOnReceive ?? false,
      jobTypes: jobTypeNames(),
      worker: options.worker,
    });
    heldByOthers = verdict.heldByOthers;
    notServed = verdict.notServed;
    return verdict.idle;
  };

  try {
    if (options.advanceOnly || !params.consumer) await advanceOnly();
    else {
      const renewer = new Renewer({
        db,
        consumer: params.consumer,
        leaseSeconds: options.leaseSeconds,
        onLeaseLost: (taskId) => {
          tally.add('leaseLost');
          notice(`task ${taskId}: its claim was taken over while its handler ran`);
        },
        onLockLost: (taskId) => {
          tally.add('lockLost');
          notice(`task ${taskId}: its message lock was lost while its handler ran`);
        },
        onError: notice,
      });
      const scope = {
        db,
        consumer: params.consumer,
        worker: options.worker,
        leaseSeconds: options.leaseSeconds,
        tally,
        renewer,
        stopping,
        stageFinished: () => advancer.request(),
        notice,
      };
      await runPipeline({ scope, options, idle });
    }
  } finally {
    // An advancement in progress may finish (its signal aborts when the grace period ends).
    clearInterval(notServedTimer);
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
    heldByOthers,
    jobsNotServed: notServed,
  };

  async function advanceOnly(): Promise<void> {
    const wake = new AbortController();
    stopping.signal.addEventListener('abort', () => wake.abort(), { once: true });
    options.signal?.addEventListener('abort', () => wake.abort(), { once: true });
    while (!stopping.stopped) {
      await pause(Math.min(500, options.idleMs), wake.signal);
      if (!stopping.stopped && (await idle(startedAt))) stopping.request('idle');
    }
  }
}
