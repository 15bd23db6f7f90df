import { type BackoffPolicy, backoffDelay, sleep } from '../../concurrency/backoff.js';
import { errorMessage, TransportError } from '../../errors.js';
import { tasksRelease } from '../../store/completion.js';
import type { ReceivedMessage } from '../../transports/transport.js';
import { claimDeliveries } from './claiming.js';
import { findHandler, runAttempt } from './handlers.js';
import type { Quiet } from './idle.js';
import type { WorkOptions } from './options.js';
import { Prefetch } from './prefetch.js';
import { Completions, reportFailure } from './reporting.js';
import { encodeResult } from './result.js';
import { type ClaimedTask, giveBack, settle, type WorkScope } from './scope.js';
import { Wakeup } from './wakeup.js';

const RECEIVE_WAIT_MS = 1_000;
/**
 * How long retryable receive failures (timeouts, a busy broker) are retried,
 * with backoff, before the run stops with the error: a worker outlives a
 * broker's bad minute, not an outage.
 */
const RECEIVE_GIVE_UP_MS = 60_000;
const RECEIVE_BACKOFF: BackoffPolicy = { baseMs: 250, maxMs: 5_000, jitter: 'none' };
/** A task of a job type this worker cannot run is delivered again after this, for a worker that can. */
const NOT_SERVED_DELAY_SECONDS = 30;

/** Asked when a receive came back empty and nothing is in flight, with when the last delivery arrived: true ends the run (--until-idle). */
export type IdleCheck = (quiet: Quiet) => Promise<boolean>;

/**
 * The worker's one path for every transport: receive (never more than the
 * free handler slots plus an adaptive prefetch), claim, run (at most
 * `concurrency` handlers at once), report, acknowledge. Returns once a stop
 * was requested and everything in flight has finished or been given back.
 */
export async function runPipeline(params: { scope: WorkScope; options: WorkOptions; idle: IdleCheck }): Promise<void> {
  await new Pipeline(params.scope, params.options, params.idle).run();
}

class Pipeline {
  private readonly wakeup = new Wakeup();
  private readonly prefetch: Prefetch;
  /** Claimed, waiting for a free handler slot. */
  private readonly ready: ClaimedTask[] = [];
  /** Everything in flight: receives, handlers and their reports. */
  private readonly work = new Set<Promise<void>>();
  private readonly completions: Completions;
  /** Job types already reported as not served here. */
  private readonly unserved = new Set<string>();
  /** Tasks whose handler runs now; what is left here when the grace period ends is given back. */
  private readonly handling = new Set<ClaimedTask>();
  /** The running handlers' runs, apart from the rest of the work: a handler may never return. */
  private readonly handlerRuns = new Set<Promise<void>>();
  // Receives in flight, and the tasks they asked for. A transport that claims while receiving (the
  // local queue) gets a second one, so one claim statement runs while the other's tasks are handled.
  private readonly receives = new Set<Promise<void>>();
  private readonly maxReceives: number;
  private requested = 0;
  private claimedSoFar = 0;
  private failure: unknown;
  private receiveFailures = 0;
  private failingSince = 0;
  private lastArrival = Date.now();
  /** The longest lock a delivery came with: how long a message lost by its receiver may stay hidden. */
  private longestLockMs = 0;

  constructor(
    private readonly scope: WorkScope,
    private readonly options: WorkOptions,
    private readonly idle: IdleCheck,
  ) {
    const { consumer } = scope;
    // A broker message held unstarted keeps its lock (renewed a request at a time) from every other
    // worker: a broker gets one receive's worth at most, enough to hide the round trip.
    this.prefetch = new Prefetch(options.concurrency, consumer.claimsOnReceive ? options.maxPrefetch : Math.min(options.maxPrefetch, options.concurrency));
    this.maxReceives = consumer.claimsOnReceive ? 2 : 1;
    this.completions = new Completions(scope, () => this.settled());
    scope.stoppedJobs.whenStopped(() => this.track(this.dropStopped()));
  }

  async run(): Promise<void> {
    const { stopping, renewer } = this.scope;
    stopping.signal.addEventListener('abort', () => renewer.abortAll(), { once: true });
    this.options.signal?.addEventListener('abort', () => this.wakeup.fire(), { once: true });
    try {
      while (!stopping.stopped) {
        while (this.handlerRuns.size < this.options.concurrency && this.ready.length > 0) this.start(this.ready.shift()!);
        if (this.budget() <= 0 && this.receives.size === 0 && this.handlerRuns.size === 0 && this.ready.length === 0) {
          stopping.request('max-tasks');
          break;
        }
        this.receiveMore();
        await this.wakeup.wait();
      }
    } finally {
      // Receiving ended: what arrives from the last receive and what is claimed but not started goes back.
      await Promise.all(this.receives);
      await this.giveBackUnstarted();
      await Promise.race([this.handlersDone(), stopping.givenUp]);
      await this.giveBackAbandoned();
      while (this.work.size > 0) await Promise.all(this.work);
      await this.completions.drain().catch((err: unknown) => (this.failure ??= err));
      await renewer.stop();
    }
    if (this.failure) throw this.failure;
  }

  /** Keeps `p` in `set` while it runs; its failure stops the run, its end wakes the loop. */
  private track(p: Promise<void>, set: Set<Promise<void>> = this.work): void {
    const tracked = p
      .catch((err: unknown) => {
        this.failure ??= err;
        this.scope.stopping.request('error');
      })
      .finally(() => {
        set.delete(tracked);
        this.wakeup.fire();
      });
    set.add(tracked);
  }

  private settled(): void {
    this.options.onProgress?.(this.scope.tally.counts);
    this.wakeup.fire();
  }

  /** Tasks this run may still ask for (--max-tasks). */
  private budget(): number {
    return this.options.maxTasks === undefined ? Infinity : this.options.maxTasks - this.claimedSoFar - this.requested;
  }

  /** Starts one more receive, if the slots and prefetch want more; it claims and queues what arrives. */
  private receiveMore(): void {
    if (this.receives.size >= this.maxReceives) return;
    const target = this.options.concurrency + this.prefetch.size();
    const have = this.handlerRuns.size + this.ready.length + this.requested;
    const want = Math.min(target - have, this.budget());
    // While every slot is busy and half the prefetch is left, wait to refill it in bulk.
    if (want <= 0 || (have >= this.options.concurrency && want < target / 2)) return;
    this.requested += want;
    const p: Promise<void> = this.receiveAndClaim(want).finally(() => {
      this.requested -= want;
      this.receives.delete(p);
      this.wakeup.fire();
    });
    this.receives.add(p);
    this.track(p);
  }

  private async receiveAndClaim(want: number): Promise<void> {
    const received = await this.receiveWithRetry(want);
    if (received === undefined) return;
    if (this.scope.stopping.stopped) {
      await this.returnUnstarted(received);
      return;
    }
    if (received.length === 0) {
      // Only receives in flight: nothing running, waiting, or being recorded.
      const quiet = this.handlerRuns.size === 0 && this.ready.length === 0 && this.work.size <= this.receives.size && this.completions.idle;
      if (quiet && (await this.idle({ since: this.lastArrival, longestLockMs: this.longestLockMs }))) this.scope.stopping.request('idle');
      return;
    }
    const claimedAt = Date.now();
    this.lastArrival = claimedAt;
    for (const m of received) this.longestLockMs = Math.max(this.longestLockMs, m.lockedUntil.getTime() - claimedAt);
    const served: ClaimedTask[] = [];
    const notServed: ClaimedTask[] = [];
    const claimed = await claimDeliveries(this.scope, received);
    // Deliveries acknowledged unrun (finished, busy, cancelled) count as progress too.
    if (claimed.length < received.length) this.settled();
    for (const task of claimed) {
      this.scope.events.taskClaimed?.(task.message.jobType);
      const lookup = findHandler(task.message.jobType, task.message.stage, task.taskType);
      if ('reason' in lookup) notServed.push(task);
      else {
        task.handler = lookup.handler;
        served.push(task);
      }
    }
    await this.leaveUnserved(notServed);
    this.claimedSoFar += served.length;
    for (const task of served) this.scope.renewer.hold(task.held, claimedAt);
    this.ready.push(...served);
    await this.dropStopped();
  }

  /** Claimed tasks of jobs that stopped running (cancelled, failed, paused) are given back unstarted. */
  private async dropStopped(): Promise<void> {
    const { stoppedJobs } = this.scope;
    const dropped: ClaimedTask[] = [];
    const kept: ClaimedTask[] = [];
    for (const task of this.ready) (stoppedJobs.has(task.message.jobId) ? dropped : kept).push(task);
    if (dropped.length === 0) return;
    this.ready.splice(0, this.ready.length, ...kept);
    for (const task of dropped) this.scope.renewer.release(task.held);
    this.scope.tally.add('released', await giveBack(this.scope, dropped));
    this.settled();
  }

  private async receiveWithRetry(want: number): Promise<ReceivedMessage[] | undefined> {
    const { options } = this;
    const waitMs = options.untilIdle ? Math.min(RECEIVE_WAIT_MS, options.idleMs) : RECEIVE_WAIT_MS;
    try {
      const received = await this.scope.consumer.receive(want, waitMs);
      this.receiveFailures = 0;
      return received;
    } catch (err) {
      if (this.receiveFailures++ === 0) this.failingSince = Date.now();
      if (!(err instanceof TransportError && err.retryable) || Date.now() - this.failingSince > RECEIVE_GIVE_UP_MS) throw err;
      this.scope.notice(`receive failed (trying again): ${errorMessage(err)}`, { event: 'receive_failed' });
      await sleep(backoffDelay(this.receiveFailures, RECEIVE_BACKOFF), options.signal);
      return undefined;
    }
  }

  private start(task: ClaimedTask): void {
    this.scope.tally.add('tasks');
    this.track(this.runTask(task), this.handlerRuns);
  }

  private async handlersDone(): Promise<void> {
    while (this.handlerRuns.size > 0) await Promise.all(this.handlerRuns);
  }

  /** Handlers still running when the grace period ended: their tasks go back, and what they return later is dropped. */
  private async giveBackAbandoned(): Promise<void> {
    if (this.handling.size === 0) return;
    const abandoned = [...this.handling];
    this.handling.clear();
    for (const task of abandoned) this.scope.renewer.release(task.held);
    this.scope.tally.add('released', await giveBack(this.scope, abandoned));
  }

  private async runTask(task: ClaimedTask): Promise<void> {
    const { scope } = this;
    const { message } = task;
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
    this.handling.add(task);
    const ended = await runAttempt(task.handler!, task.parameters, new HandlerContext(task));
    // Given back when the grace period ended: another worker runs it.
    if (!this.handling.delete(task)) return;
    task.handlerMs = performance.now() - startedAt;
    this.prefetch.record(task.handlerMs);
    if (!ended.ok) return this.failed(task, ended);
    const encoded = encodeResult(ended.result);
    if ('error' in encoded) return this.failed(task, { error: encoded.error, retryable: false });
    this.completions.add(task, encoded.json);
  }

  private async failed(task: ClaimedTask, failure: { error: string; retryable: boolean }): Promise<void> {
    await reportFailure(this.scope, task, failure);
    this.settled();
  }

  /** Tasks of a job type this process has no module for: left for a worker that has, said once per job type. */
  private async leaveUnserved(tasks: ClaimedTask[]): Promise<void> {
    if (tasks.length === 0) return;
    for (const t of tasks) {
      if (this.unserved.has(t.message.jobType)) continue;
      this.unserved.add(t.message.jobType);
      this.scope.notice(
        `job ${t.message.jobId.slice(0, 16)}: no module here defines job type "${t.message.jobType}"; ` +
          'its tasks are left for a worker started with --job-types naming it',
        { event: 'job_type_not_served', jobId: t.message.jobId, jobType: t.message.jobType },
      );
    }
    this.scope.tally.add('notServed', tasks.length);
    await giveBack(this.scope, tasks, NOT_SERVED_DELAY_SECONDS);
  }

  private async giveBackUnstarted(): Promise<void> {
    const unstarted = this.ready.splice(0);
    for (const task of unstarted) this.scope.renewer.release(task.held);
    this.scope.tally.add('released', await giveBack(this.scope, unstarted));
  }

  /** Deliveries that arrived after the stop: never looked at, handed straight back. */
  private async returnUnstarted(received: ReceivedMessage[]): Promise<void> {
    const { scope } = this;
    const claimed = received.filter((m) => m.claimed && m.message);
    await tasksRelease({ db: scope.db, held: claimed.map((m) => ({ taskId: m.message!.taskId, claim: m.claimed!.claim })) });
    await Promise.all(received.filter((m) => !m.claimed).map((m) => settle(scope, m, undefined, 'abandon', () => scope.consumer.abandon(m))));
  }
}

/**
 * What a handler is given besides its parameters. A class, so that each
 * task's costs one small object whose getter lives on the prototype.
 */
class HandlerContext {
  readonly taskId: string;
  readonly jobId: string;
  readonly stage: number;
  readonly attempt: number;

  readonly #held: ClaimedTask['held'];

  constructor(task: ClaimedTask) {
    this.#held = task.held;
    this.taskId = task.message.taskId;
    this.jobId = task.message.jobId;
    this.stage = task.message.stage;
    this.attempt = task.attempt;
  }

  // Read lazily: see Lost.
  get signal(): AbortSignal {
    return this.#held.lost.signal;
  }
}
