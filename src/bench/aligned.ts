import { performance } from 'node:perf_hooks';
import { batchIdFor, idPrefixFor } from '../core/ids.js';
import { dispatchStage } from '../core/protocol/dispatch-stage.js';
import type { Pool } from '../store/pool.js';
import type { TransportProducer } from '../transports/transport.js';
import { clockFigures, type ModeRun, type RunProgress } from './mode-run.js';
import { CallClock, type QueryObserver, timedPool, timedTransport } from './timing.js';
import { BENCH_TASK_TYPE, type BenchJob, benchJobCreate, benchTasks } from './workload.js';

/**
 * The geo core on the bench workload: the real `dispatchStage` (aligned
 * batches, batches in flight, retries, lease keeping), with its database
 * calls and its sends timed separately.
 */
export async function runAligned(params: {
  db: Pool;
  transport: TransportProducer;
  job: BenchJob;
  n: number;
  batchSize: number;
  concurrency: number;
  leaseSeconds: number;
  signal?: AbortSignal;
  onProgress?: RunProgress;
}): Promise<ModeRun> {
  const clock = new CallClock();
  const batches = batchLatencyObserver(params.job.jobId, Math.ceil(params.n / params.batchSize));
  const db = timedPool(params.db, clock, batches.observe);
  const transport = timedTransport(params.transport, clock);
  const { job } = params;

  const started = performance.now();
  await benchJobCreate(db, { job, transport: transport.name, tasksAreMessages: transport.writesWithTasks, taskCount: params.n, batchSize: params.batchSize });
  const result = await dispatchStage({
    db,
    transport,
    job: { jobId: job.jobId, jobType: job.jobType, idPrefix: idPrefixFor(job.jobId) },
    stage: { stage: 1, taskType: BENCH_TASK_TYPE, taskCount: params.n, batchSize: params.batchSize },
    tasks: benchTasks(params.n),
    concurrency: params.concurrency,
    leaseSeconds: params.leaseSeconds,
    signal: params.signal,
    onProgress: (p) => params.onProgress?.(p.queued + p.failed + p.pendingQueue),
  });
  const elapsedMs = performance.now() - started;
  const failed = result.failed + result.pendingQueue + result.notWritten;
  return {
    tasks: params.n,
    queued: result.queued,
    failed,
    elapsedMs,
    ...clockFigures(clock),
    units: result.batches,
    latenciesMs: batches.latencies(),
    error: failed > 0 ? (result.stoppedBy?.message ?? `${failed} tasks were not queued`) : undefined,
  };
}

/**
 * Per-batch latency, step 1 to step 3, read off the timed database calls:
 * dispatchStage has no per-batch hook, but every statement of the protocol
 * names the batches it is about among its parameters (as a value, in an
 * array, or inside a JSON parameter). A batch's latency runs from the start
 * of the first statement that names it (its insert) to the end of the last
 * (its recorded send; with the database as the queue, the insert itself).
 * Keyed on the batch ids rather than on SQL text, so it holds however the
 * store groups its statements; the bench tests check one sample per batch.
 */
function batchLatencyObserver(jobId: string, batchCount: number): { observe: QueryObserver; latencies(): number[] } {
  const known = new Set(Array.from({ length: batchCount }, (_, k) => batchIdFor(idPrefixFor(jobId), 1, k)));
  const spans = new Map<string, { start: number; end: number }>();
  const observe: QueryObserver = (_text, values, start, end) => {
    for (const batchId of namedIds(values ?? [], known)) {
      const span = spans.get(batchId);
      if (span) span.end = Math.max(span.end, end);
      else spans.set(batchId, { start, end });
    }
  };
  return { observe, latencies: () => [...spans.values()].map((s) => s.end - s.start) };
}

/** The known ids among a statement's parameters: strings, arrays of them, JSON text holding them. */
function namedIds(values: unknown[], known: Set<string>): Set<string> {
  const found = new Set<string>();
  const visit = (value: unknown, parseJson: boolean): void => {
    if (typeof value === 'string') {
      if (known.has(value)) found.add(value);
      else if (parseJson && /^\s*[[{]/.test(value)) {
        try {
          visit(JSON.parse(value), false);
        } catch {
          // Not JSON after all: nothing to find in it.
        }
      }
    } else if (Array.isArray(value)) {
      for (const item of value) visit(item, false);
    } else if (value !== null && typeof value === 'object') {
      for (const item of Object.values(value)) visit(item, false);
    }
  };
  for (const value of values) visit(value, true);
  return found;
}
