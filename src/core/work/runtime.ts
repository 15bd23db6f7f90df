import { pause } from '../../concurrency/pause.js';
import { errorMessage } from '../../errors.js';
import { stageCompletionsCountOpen } from '../../store/completion.js';
import { stageCompletionsListen, type Listener } from '../../store/notify.js';
import type { Pool } from '../../store/pool.js';
import type { TransportConsumer } from '../../transports/transport.js';
import type { TransportResolver } from '../targets.js';
import { Advancer } from './advancer.js';
import type { WorkOptions, WorkSummary } from './options.js';
import { runReceiveLoop } from './receive-loop.js';
import { Stopping } from './stopping.js';
import { Tally } from './tally.js';

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
    else {
      await runReceiveLoop({
        db,
        consumer: params.consumer,
        options,
        tally,
        stopping,
        advancer,
        openStageCompletions,
        notice,
      });
    }
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
}
