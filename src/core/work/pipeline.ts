import { pause } from '../../concurrency/pause.js';
import { errorMessage, TransportError } from '../../errors.js';
import { tasksRelease } from '../../store/completion.js';
import type { ReceivedMessage } from '../../transports/transport.js';
import { claimDeliveries } from './claiming.js';
import { findHandler, runAttempt, type AttemptOutcome } from './handlers.js';
import type { WorkOptions } from './options.js';
import { Prefetch } from './prefetch.js';
import { Completions, reportFailure } from './reporting.js';
import { encodeResult } from './result.js';
import { giveBack, settle, type ClaimedTask, type WorkScope } from './scope.js';
import { Wakeup } from './wakeup.js';

const RECEIVE_WAIT_MS = 1_000;
/**
 * How long retryable receive failures (timeouts, a busy broker) are retried,
 * with backoff, before the run stops with the error: a worker outlives a
 * broker's bad minute, not an outage.
 */
const RECEIVE_GIVE_UP_MS = 60_000;
const RECEIVE_BACKOFF_MS = { first: 250, max: 5_000 };
/** A task of a job type this worker cannot run is delivered again after this, for a worker that can. */
const NOT_SERVED_DELAY_SECONDS = 30;

const GIVEN_UP: unique symbol = Symbol('given up');

/**
 * The worker's one path for every transport: receive (never more than the
 * free handler slots plus an adaptive prefetch), claim, run (at most
 * `concurrency` handlers at once), report, acknowledge. Returns once a stop
 * was requested and everything in flight has finished or been given back.
 */
export async function runPipeline(params: {
  scope: WorkScope;
  options: WorkOptions;
  /** Asked when a receive came back empty and nothing is in flight, with when the last delivery arrived: true ends the run (--until-idle). */
  idle: (quietSince: number) => Promise<boolean>;
}): Promise<void> {
  const { scope, options } = params;
  const { consumer, stopping, tally, renewer } = scope;
  const wakeup = new Wakeup();
  // A broker message held unstarted keeps its lock (renewed a request at a time) from every other
  // worker: a broker gets one receive's worth at most, enough to hide the round trip.
  const prefetch = new Prefetch(
    options.concurrency,
    consumer.claimsOnReceive ? options.maxPrefetch : Math.min(options.maxPrefetch, options.concurrency),
  );
  const ready: ClaimedTask[] = [];
  const work = new Set<Promise<void>>();
  const completions = new Completions(scope, () => settled());
  const unserved = new Set<string>();
  // Handlers still running when the grace period ends are given up: each waits on its own entry
  // here, so no per-task reaction piles up on the one long-lived stop promise.
  const abandon = new Set<() => void>();
  void stopping.givenUp.then(() => {
    for (const give of abandon) give();
  });
  let running = 0;
  // Receives in flight, and the tasks they asked for. A transport that claims while receiving (the
  // local queue) gets a second one, so one claim statement runs while the other's tasks are handled.
  const receives = new Set<Promise<void>>();
  const maxReceives = consumer.claimsOnReceive ? 2 : 1;
  let requested = 0;
  let claimedSoFar = 0;
  let failure: unknown;
  let receiveFailures = 0;
  let failingSince = 0;
  let lastArrival = Date.now();

  const track = (p: Promise<void>) => {
    const tracked = p
      .catch((err: unknown) => {
        failure ??= err;
        stopping.request('error');
      })
      .finally(() => {
        work.delete(tracked);
        wakeup.fire();
      });
    work.add(tracked);
  };
  const settled = () => {
    options.onProgress?.(tally.counts);
    wakeup.fire();
  };
  const budget = () => (options.maxTasks === undefined ? Infinity : options.maxTasks - claimedSoFar - requested);
  stopping.signal.addEventListener('abort', () => renewer.abortAll(), { once: true });
  options.signal?.addEventListener('abort', () => wakeup.fire(), { once: true });

  try {
    while (!stopping.stopped) {
      while (running < options.concurrency && ready.length > 0) start(ready.shift()!);
      if (budget() <= 0 && receives.size === 0 && running === 0 && ready.length === 0) {
        stopping.request('max-tasks');
        break;
      }
      receiveMore();
      await wakeup.wait();
    }
  } finally {
    // Receiving ended: what arrives from the last receive and what is claimed but not started goes back.
    await Promise.all(receives);
    await giveBackUnstarted();
    while (work.size > 0) await Promise.all(work);
    await completions.drain().catch((err: unknown) => (failure ??= err));
    await renewer.stop();
  }
  if (failure) throw failure;

  /** Starts one more receive, if the slots and prefetch want more; it claims and queues what arrives. */
  function receiveMore(): void {
    if (receives.size >= maxReceives) return;
    const target = options.concurrency + prefetch.size();
    const have = running + ready.length + requested;
    const want = Math.min(target - have, budget());
    // While every slot is busy and half the prefetch is left, wait to refill it in bulk.
    if (want <= 0 || (have >= options.concurrency && want < target / 2)) return;
    requested += want;
    const p: Promise<void> = receiveAndClaim(want).finally(() => {
      requested -= want;
      receives.delete(p);
      wakeup.fire();
    });
    receives.add(p);
    track(p);
  }

  async function receiveAndClaim(want: number): Promise<void> {
    const received = await receiveWithRetry(want);
    if (received === undefined) return;
    if (stopping.stopped) {
      await returnUnstarted(received);
      return;
    }
    if (received.length === 0) {
      // Only receives in flight: nothing running, waiting, or being recorded.
      const quiet = running === 0 && ready.length === 0 && work.size <= receives.size && completions.idle;
      if (quiet && (await params.idle(lastArrival))) stopping.request('idle');
      return;
    }
    const claimedAt = Date.now();
    lastArrival = claimedAt;
    const served: ClaimedTask[] = [];
    const notServed: ClaimedTask[] = [];
    const claimed = await claimDeliveries(scope, received);
    // Deliveries acknowledged unrun (finished, busy, cancelled) count as progress too.
    if (claimed.length < received.length) settled();
    for (const task of claimed) {
      scope.events.taskClaimed?.(task.message.jobType);
      const lookup = findHandler({ ...task.message, taskType: task.taskType });
      if ('reason' in lookup) notServed.push(task);
      else served.push({ ...task, handler: lookup.handler });
    }
    await leaveUnserved(notServed);
    claimedSoFar += served.length;
    for (const task of served) renewer.hold(task.held, claimedAt);
    ready.push(...served);
  }

  async function receiveWithRetry(want: number): Promise<ReceivedMessage[] | undefined> {
    const waitMs = options.untilIdle ? Math.min(RECEIVE_WAIT_MS, options.idleMs) : RECEIVE_WAIT_MS;
    try {
      const received = await consumer.receive(want, waitMs);
      receiveFailures = 0;
      return received;
    } catch (err) {
      if (receiveFailures++ === 0) failingSince = Date.now();
      if (!(err instanceof TransportError && err.retryable) || Date.now() - failingSince > RECEIVE_GIVE_UP_MS) throw err;
      scope.notice(`receive failed (trying again): ${errorMessage(err)}`, { event: 'receive_failed' });
      await pause(Math.min(RECEIVE_BACKOFF_MS.max, RECEIVE_BACKOFF_MS.first * 2 ** (receiveFailures - 1)), options.signal);
      return undefined;
    }
  }

  function start(task: ClaimedTask): void {
    running++;
    tally.add('tasks');
    track(run(task).finally(() => running--));
  }

  async function run(task: ClaimedTask): Promise<void> {
    const { message, held } = task;
    const context = {
      taskId: message.taskId,
      jobId: message.jobId,
      stage: message.stage,
      attempt: task.attempt,
      // Read lazily: see Lost.
      get signal() {
        return held.lost.signal;
      },
    };
    task.span = scope.events.startSpan?.('geo.task', {
      'geo.task_id': message.taskId,
      'geo.job_id': message.jobId,
      'geo.job_type': message.jobType,
      'geo.stage': message.stage,
      'geo.batch_id': message.batchId,
      'geo.attempt': task.attempt,
      'geo.worker': scope.worker,
    });
    const startedAt = performance.now();
    let give!: () => void;
    const givenUp = new Promise<typeof GIVEN_UP>((resolve) => (give = () => resolve(GIVEN_UP)));
    abandon.add(give);
    let ended: AttemptOutcome | typeof GIVEN_UP;
    try {
      ended = await Promise.race([runAttempt(task.handler!, task.parameters, context), givenUp]);
    } finally {
      abandon.delete(give);
    }
    task.handlerMs = performance.now() - startedAt;
    prefetch.record(task.handlerMs);
    if (ended === GIVEN_UP) {
      renewer.release(held);
      tally.add('released', await giveBack(scope, [task]));
      return;
    }
    if (!ended.ok) return failed(task, ended);
    const encoded = encodeResult(ended.result);
    if ('error' in encoded) return failed(task, { error: encoded.error, retryable: false });
    completions.add(task, encoded.json);
  }

  async function failed(task: ClaimedTask, failure: { error: string; retryable: boolean }): Promise<void> {
    await reportFailure(scope, task, failure);
    settled();
  }

  /** Tasks of a job type this process has no module for: left for a worker that has, said once per job type. */
  async function leaveUnserved(tasks: ClaimedTask[]): Promise<void> {
    if (tasks.length === 0) return;
    for (const t of tasks) {
      if (unserved.has(t.message.jobType)) continue;
      unserved.add(t.message.jobType);
      scope.notice(
        `job ${t.message.jobId.slice(0, 16)}: no module here defines job type "${t.message.jobType}"; ` +
          'its tasks are left for a worker started with --job-types naming it',
        { event: 'job_type_not_served', jobId: t.message.jobId, jobType: t.message.jobType },
      );
    }
    tally.add('notServed', tasks.length);
    await giveBack(scope, tasks, NOT_SERVED_DELAY_SECONDS);
  }

  async function giveBackUnstarted(): Promise<void> {
    const unstarted = ready.splice(0);
    for (const task of unstarted) renewer.release(task.held);
    tally.add('released', await giveBack(scope, unstarted));
  }

  /** Deliveries that arrived after the stop: never looked at, handed straight back. */
  async function returnUnstarted(received: ReceivedMessage[]): Promise<void> {
    const claimed = received.filter((m) => m.claimed && m.message);
    await tasksRelease({ db: scope.db, held: claimed.map((m) => ({ taskId: m.message!.taskId, claim: m.claimed!.claim })) });
    await Promise.all(received.filter((m) => !m.claimed).map((m) => settle(scope, m, undefined, 'abandon', () => consumer.abandon(m))));
  }
}
