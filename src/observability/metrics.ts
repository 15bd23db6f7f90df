import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { WorkEvents } from '../core/events.js';
import type { TransportResolver } from '../core/protocol/job-transport.js';
import type { Queryable } from '../store/pool.js';
import type { TransportProducer } from '../transports/transport.js';
import { registerBacklogGauge } from './backlog.js';
import { type HistogramSeries, TallyHistogram } from './tally-histogram.js';

/** Handler durations (seconds): from a trivial handler to a long tile render. */
const HANDLER_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/** Broker round trips (seconds). */
const SEND_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Messages per transport batch (at most 100). */
const SIZE_BUCKETS = [1, 5, 10, 25, 50, 75, 100];

/** One job type's counts, kept in plain numbers: the per-task hooks only add. */
interface JobTypeTally {
  claimed: number;
  completed: number;
  failed: number;
  retried: number;
  ok: HistogramSeries;
  error: HistogramSeries;
}

export interface WorkerMetrics {
  /** What /metrics serves (a registry of its own, so several workers can share a process in tests). */
  readonly registry: Registry;
  /** The worker's hooks that count (core/events.ts). */
  readonly events: WorkEvents;
  /** Wraps a resolver so that every batch sent or scheduled through its transports is measured. */
  observeTransports(resolve: TransportResolver): TransportResolver;
}

/**
 * `geo work`'s Prometheus metrics (docs/observability.md). Task counters are
 * counted per job type in plain numbers and handed to prom-client at scrape
 * time, so a task costs a Map lookup and a few additions, never a label hash;
 * the rarer events (renewals, batch sends, advancements) use prom-client
 * directly. The backlog is read from SQL at scrape time, as the dashboard's is.
 */
export function workerMetrics(params: { db: Queryable; jobTypes?: readonly string[] }): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const tallyOf = taskTallies(registry, params.jobTypes ?? []);
  const events = workerEvents(registry, tallyOf);
  const measure = measuring(sendMetrics(registry));
  registerBacklogGauge(registry, params.db);
  return { registry, events, observeTransports: (resolve) => async (target) => measure(await resolve(target)) };
}

/**
 * The per-job-type task counters and handler durations: plain numbers the
 * hooks add to, handed to prom-client when scraped. Returns the tally of a
 * job type, made on first use.
 */
function taskTallies(registry: Registry, jobTypes: readonly string[]): (jobType: string) => JobTypeTally {
  const handlerSeconds = new TallyHistogram(
    'geo_task_handler_duration_seconds',
    'How long task handlers ran, by job type and outcome (ok: completed; error: failed, whether retried or not).',
    HANDLER_BUCKETS,
    registry,
  );
  const tallies = new Map<string, JobTypeTally>();
  const tallyOf = (jobType: string): JobTypeTally => {
    let t = tallies.get(jobType);
    if (!t) {
      t = {
        claimed: 0,
        completed: 0,
        failed: 0,
        retried: 0,
        ok: handlerSeconds.series({ job_type: jobType, outcome: 'ok' }),
        error: handlerSeconds.series({ job_type: jobType, outcome: 'error' }),
      };
      tallies.set(jobType, t);
    }
    return t;
  };
  // Every job type this worker serves shows from the first scrape, at 0, so rate() has a start.
  for (const jobType of jobTypes) tallyOf(jobType);

  const perJobType = (name: string, help: string, pick: (t: JobTypeTally) => number) =>
    new Counter({
      name,
      help,
      labelNames: ['job_type'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [jobType, t] of tallies) this.inc({ job_type: jobType }, pick(t));
      },
    });
  perJobType('geo_tasks_claimed_total', 'Tasks this worker claimed (to run, or to give back to a worker serving their job type).', (t) => t.claimed);
  perJobType('geo_tasks_completed_total', 'Tasks this worker completed (as the database recorded them).', (t) => t.completed);
  perJobType('geo_tasks_failed_total', 'Tasks this worker failed for good (a permanent error, or their last attempt).', (t) => t.failed);
  perJobType('geo_tasks_retried_total', 'Failed attempts of this worker that geo delivers again (a retry scheduled).', (t) => t.retried);
  return tallyOf;
}

/** The worker's hooks: task events into the job type's tally, the rarer events into counters of their own. */
function workerEvents(registry: Registry, tallyOf: (jobType: string) => JobTypeTally): WorkEvents {
  const renewals = new Counter({ name: 'geo_task_lease_renewals_total', help: 'Task leases renewed while handlers ran.', registers: [registry] });
  const leasesLost = new Counter({
    name: 'geo_task_leases_lost_total',
    help: 'Tasks whose claim was taken over while their handler ran (the worker was too slow to renew, or was thought dead).',
    registers: [registry],
  });
  const locksLost = new Counter({ name: 'geo_message_locks_lost_total', help: 'Broker message locks lost (the message comes back).', registers: [registry] });
  const advancements = new Counter({
    name: 'geo_stage_advancements_total',
    help: 'Finished stages this worker handled, by what it did (queued-next-stage, job-completed, job-failed, already-ended, retry-later).',
    labelNames: ['action'],
    registers: [registry],
  });
  return {
    taskClaimed: (jobType) => {
      tallyOf(jobType).claimed++;
    },
    taskCompleted: (jobType, ms) => {
      const t = tallyOf(jobType);
      t.completed++;
      t.ok.observe(ms / 1000);
    },
    taskFailed: (jobType, retry, ms) => {
      const t = tallyOf(jobType);
      if (retry) t.retried++;
      else t.failed++;
      t.error.observe(ms / 1000);
    },
    leaseRenewed: (n) => renewals.inc(n),
    leaseLost: () => leasesLost.inc(),
    lockLost: () => locksLost.inc(),
    stageAdvanced: (a) => advancements.inc({ action: a.action }),
  };
}

/** Batch send durations and sizes; returns the observer of one transport's sends. */
function sendMetrics(registry: Registry): (transport: string) => SendObserver {
  const sendSeconds = new Histogram({
    name: 'geo_batch_send_duration_seconds',
    help: 'Transport batch sends of this worker (stage advancement, the sweep): how long each took, by transport, operation and outcome.',
    labelNames: ['transport', 'operation', 'outcome'],
    buckets: SEND_BUCKETS,
    registers: [registry],
  });
  const sendSize = new Histogram({
    name: 'geo_batch_send_messages',
    help: 'Messages per transport batch this worker sent, by transport and operation.',
    labelNames: ['transport', 'operation'],
    buckets: SIZE_BUCKETS,
    registers: [registry],
  });
  return (transport) => (operation, size, seconds, ok) => {
    sendSeconds.observe({ transport, operation, outcome: ok ? 'ok' : 'error' }, seconds);
    sendSize.observe({ transport, operation }, size);
  };
}

/** Measures a producer's sends, wrapping each producer once however often a resolver returns it. */
function measuring(observerFor: (transport: string) => SendObserver): (producer: TransportProducer) => TransportProducer {
  const observed = new WeakMap<TransportProducer, TransportProducer>();
  return (producer) => {
    let wrapped = observed.get(producer);
    if (!wrapped) {
      wrapped = measuredProducer(producer, observerFor(producer.name));
      observed.set(producer, wrapped);
    }
    return wrapped;
  };
}

type SendObserver = (operation: 'send' | 'schedule', size: number, seconds: number, ok: boolean) => void;

/**
 * The same transport, its sends and schedules timed. Every batch any part of
 * the worker sends (stage advancement, the sweep's resends and retries) goes
 * through a transport, so measuring here needs nothing of the core.
 */
function measuredProducer(inner: TransportProducer, observe: SendObserver): TransportProducer {
  const timed = async <R extends { error?: unknown }>(operation: 'send' | 'schedule', size: number, run: () => Promise<R>): Promise<R> => {
    const started = performance.now();
    let ok = false;
    try {
      const report = await run();
      ok = report.error === undefined;
      return report;
    } finally {
      observe(operation, size, (performance.now() - started) / 1000, ok);
    }
  };
  const wrapped: TransportProducer = {
    name: inner.name,
    writesWithTasks: inner.writesWithTasks,
    target: inner.target,
    send: (messages) => timed('send', messages.length, () => inner.send(messages)),
    schedule: (messages, at) => timed('schedule', messages.length, () => inner.schedule(messages, at)),
    close: () => inner.close(),
  };
  if (inner.readDeadLetters) wrapped.readDeadLetters = (max) => inner.readDeadLetters!(max);
  if (inner.cancelScheduled) wrapped.cancelScheduled = (refs) => inner.cancelScheduled!(refs);
  return wrapped;
}
