import type { GeoConfig, TransportName } from '../config/index.js';
import { jobTypeNames } from '../core/job-types/registry.js';
import { prepareJob } from '../core/prepare-job.js';
import { processName } from '../core/session.js';
import { submitJob } from '../core/submit.js';
import { DEFAULT_MAX_PREFETCH } from '../core/work/options.js';
import { runWork } from '../core/work/runtime.js';
import { GeoError } from '../errors.js';
import { benchTablesClear } from '../store/bench.js';
import type { Pool } from '../store/pool.js';
import { createConsumer, destinationOf } from '../transports/index.js';
import type { TransportProducer } from '../transports/transport.js';

/** The worker's idle wait that ends each run: short, as it is counted in the run's time. */
const IDLE_MS = 100;

export interface EndToEndSettings {
  /** hello_world's n: the run has 2n tasks over its two stages. */
  n: number;
  runs: number;
  /** Handlers at once in the one worker. */
  concurrency: number;
  batchSize: number;
  leaseSeconds: number;
}

export interface EndToEndRun {
  tasks: number;
  completed: number;
  submitMs: number;
  workMs: number;
  /** Submit plus work, the worker's final idle wait (IDLE_MS and one empty receive) included. */
  elapsedMs: number;
  tasksPerSecond: number;
}

export interface EndToEndResult {
  /** The transport measured. */
  path: TransportName;
  settings: EndToEndSettings;
  runs: EndToEndRun[];
  /** Of the runs' tasks/s. */
  medianTasksPerSecond: number;
}

/**
 * End to end on `transport` (one whose tasks are its messages: nothing but
 * the database, so nothing else to set up or empty), in the bench schema: submit
 * hello_world (stage 1), then one worker runtime runs both stages and
 * advances them (stage 2 is queued by its advancer, and the job completed),
 * until idle. Each run starts from empty tables; a run whose job does not
 * complete is an error, not a figure.
 */
export async function runEndToEnd(params: {
  db: Pool;
  config: GeoConfig;
  transport: TransportProducer;
  settings: EndToEndSettings;
  nonce: string;
  signal?: AbortSignal;
  onProgress?: (run: number, completed: number) => void;
}): Promise<EndToEndResult> {
  const { db, transport, settings } = params;
  const runs: EndToEndRun[] = [];
  for (let run = 1; run <= settings.runs && !params.signal?.aborted; run++) {
    await benchTablesClear(db);
    const job = prepareJob('hello_world', { n: settings.n, name: `bench-${params.nonce}-${run}` });
    const startedAt = Date.now();
    await submitJob({
      db,
      transport,
      job,
      destination: destinationOf(transport.name, params.config),
      options: { batchSize: settings.batchSize, concurrency: 4, leaseSeconds: settings.leaseSeconds, signal: params.signal },
    });
    const submittedAt = Date.now();
    const worker = processName();
    const consumer = await createConsumer(transport.name, params.config, { worker, leaseSeconds: settings.leaseSeconds, jobTypes: jobTypeNames(), db });
    let summary: Awaited<ReturnType<typeof runWork>>;
    try {
      summary = await runWork({
        db,
        consumer,
        transportFor: async () => transport,
        options: {
          worker,
          concurrency: settings.concurrency,
          maxPrefetch: DEFAULT_MAX_PREFETCH,
          transport: consumer.name,
          leaseSeconds: settings.leaseSeconds,
          graceMs: 5_000,
          untilIdle: true,
          idleMs: IDLE_MS,
          advanceOnly: false,
          advance: { batchSize: settings.batchSize, concurrency: 4, leaseSeconds: settings.leaseSeconds },
          signal: params.signal,
          onProgress: (counts) => params.onProgress?.(run, counts.completed),
        },
      });
    } finally {
      await consumer.close();
    }
    const endedAt = Date.now();
    if (params.signal?.aborted) break;
    if (!summary.advanced.some((a) => a.action === 'job-completed') || summary.completed !== 2 * settings.n) {
      throw new GeoError('incomplete', 'BENCH_RUN_INCOMPLETE', `end-to-end run ${run}: ${summary.completed} of ${2 * settings.n} tasks completed`);
    }
    const elapsedMs = endedAt - startedAt;
    runs.push({
      tasks: 2 * settings.n,
      completed: summary.completed,
      submitMs: submittedAt - startedAt,
      workMs: endedAt - submittedAt,
      elapsedMs,
      tasksPerSecond: Math.round((2 * settings.n) / (elapsedMs / 1000)),
    });
  }
  await benchTablesClear(db);
  const rates = runs.map((r) => r.tasksPerSecond).sort((a, b) => a - b);
  return { path: transport.name, settings, runs, medianTasksPerSecond: rates[Math.floor(rates.length / 2)] ?? 0 };
}
