import type { TransportName } from '../config/index.js';
import { errorMessage, GeoError } from '../errors.js';
import { benchTablesClear } from '../store/bench.js';
import type { Pool } from '../store/pool.js';
import type { TransportProducer } from '../transports/transport.js';
import { runAligned } from './aligned.js';
import { runIndividual } from './individual.js';
import type { ModeRun } from './mode-run.js';
import { type ModeSummary, summarizeMode } from './summary.js';
import { type BenchMode, benchJob } from './workload.js';

export type { ModeSummary } from './summary.js';

export interface BenchPath {
  path: TransportName;
  /** Unset when the path is skipped. */
  transport?: TransportProducer;
  /** Why the path is not measured (not configured). */
  skipped?: string;
  /** The bench queue the messages go to. */
  queue?: string;
  /** Empties the bench queue after a run, outside the timing; returns the messages removed. */
  reset?: (queued: number) => Promise<number>;
}

export interface BenchSettings {
  /** Tasks per aligned run. */
  n: number;
  /** Tasks per individual run at most: the baseline is slow by design. */
  individualN: number;
  runs: number;
  concurrency: number;
  batchSize: number;
  leaseSeconds: number;
}

export interface PathResult {
  path: TransportName;
  target?: string;
  queue?: string;
  skipped?: string;
  individual?: ModeSummary;
  aligned?: ModeSummary;
  /** Aligned tasks/s over individual tasks/s. */
  speedup?: number;
  messagesRemoved: number;
  /** Why the bench queue could not be emptied (its messages stay there). */
  queueCleanupError?: string;
}

export interface BenchResult {
  settings: BenchSettings;
  paths: PathResult[];
  /** Tasks not queued, over every run of every path. */
  failed: number;
}

export interface BenchProgress {
  path: TransportName;
  mode: BenchMode;
  run: number;
  runs: number;
  done: number;
  total: number;
}

/**
 * Runs both modes on every path, `runs` times each, on identical workloads
 * and the same database, and reports each mode's median run. Every run starts
 * from empty bench tables and an emptied bench queue and with the pool's
 * connections open, so no run pays for another's leftovers or for set-up.
 */
export async function runBench(params: {
  db: Pool;
  paths: BenchPath[];
  settings: BenchSettings;
  /** Makes this bench's job ids its own. */
  nonce: string;
  signal?: AbortSignal;
  onProgress?: (progress: BenchProgress) => void;
}): Promise<BenchResult> {
  const { db, settings } = params;
  const results: PathResult[] = [];
  for (const path of params.paths) {
    if (!path.transport) {
      results.push({ path: path.path, skipped: path.skipped ?? 'not available', messagesRemoved: 0 });
      continue;
    }
    const transport = path.transport;
    const runs: Record<BenchMode, ModeRun[]> = { individual: [], aligned: [] };
    let messagesRemoved = 0;
    let queueCleanupError: string | undefined;
    for (let run = 1; run <= settings.runs; run++) {
      for (const mode of ['individual', 'aligned'] as const) {
        const measured = await measureOnce({ ...params, path, transport, mode, run });
        runs[mode].push(measured);
        await benchTablesClear(db);
        // A queue the bench may send to but not read from (no receive rights)
        // keeps its messages: worth reporting, not worth losing the measurements for.
        if (!transport.writesWithTasks && path.reset && !queueCleanupError) {
          messagesRemoved += await path.reset(measured.queued).catch((err: unknown) => {
            queueCleanupError = errorMessage(err);
            return 0;
          });
        }
        if (params.signal?.aborted) throw new GeoError('incomplete', 'INTERRUPTED', 'interrupted; the bench data was removed');
      }
    }
    const individual = summarizeMode(runs.individual);
    const aligned = summarizeMode(runs.aligned);
    results.push({
      path: path.path,
      target: transport.target,
      queue: path.queue,
      individual,
      aligned,
      speedup: individual.tasksPerSecond > 0 ? Math.round((aligned.tasksPerSecond / individual.tasksPerSecond) * 10) / 10 : undefined,
      messagesRemoved,
      queueCleanupError,
    });
  }
  const failed = results.reduce((sum, r) => sum + (r.individual?.failedAllRuns ?? 0) + (r.aligned?.failedAllRuns ?? 0), 0);
  return { settings, paths: results, failed };
}

/** One timed run of one mode on one path, on a fresh job of its own. */
async function measureOnce(params: {
  db: Pool;
  path: BenchPath;
  transport: TransportProducer;
  mode: BenchMode;
  run: number;
  settings: BenchSettings;
  nonce: string;
  signal?: AbortSignal;
  onProgress?: (progress: BenchProgress) => void;
}): Promise<ModeRun> {
  const { db, transport, mode, run, settings } = params;
  const n = mode === 'individual' ? Math.min(settings.n, settings.individualN) : settings.n;
  const job = benchJob(mode, { n, nonce: params.nonce, run });
  const onProgress = (done: number) => params.onProgress?.({ path: params.path.path, mode, run, runs: settings.runs, done, total: n });
  await warmPool(db);
  const common = { db, transport, job, n, signal: params.signal, onProgress };
  if (mode === 'individual') return runIndividual(common);
  return runAligned({ ...common, batchSize: settings.batchSize, concurrency: settings.concurrency, leaseSeconds: settings.leaseSeconds });
}

/** Opens every connection the pool may use, so no timed run pays for a connection handshake. */
async function warmPool(db: Pool): Promise<void> {
  const size = db.options.max ?? 10;
  const clients = await Promise.all(Array.from({ length: size }, () => db.connect()));
  for (const client of clients) client.release();
}
