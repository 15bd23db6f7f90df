import type { ModeRun } from './mode-run.js';
import { type LatencySummary, medianBy, ratePerSecond, round, summarizeLatencies } from './stats.js';

/** One mode on one path: its median run, plus every run's rate. */
export interface ModeSummary {
  tasks: number;
  queued: number;
  failed: number;
  totalMs: number;
  tasksPerSecond: number;
  /** Summed time of database calls and of queue sends (they overlap with batches in flight). */
  dbMs: number;
  queueMs: number;
  dbCalls: number;
  queueCalls: number;
  /** dbMs / (dbMs + queueMs): which side the run waited on. */
  dbShare: number;
  /** Batches (aligned) or tasks (individual): the units latency is measured over. */
  batches: number;
  latencyMs: LatencySummary;
  /** tasks/s of every run, in order. */
  runsTasksPerSecond: number[];
  /** Failed tasks over all runs (the median run's are in `failed`). */
  failedAllRuns: number;
  error?: string;
}

/** The median run by tasks/s (the lower middle for an even count), with every run's rate beside it. */
export function summarizeMode(runs: ModeRun[]): ModeSummary {
  const rate = (r: ModeRun) => ratePerSecond(r.queued, r.elapsedMs);
  const median = medianBy(runs, rate);
  const callMs = median.dbMs + median.queueMs;
  return {
    tasks: median.tasks,
    queued: median.queued,
    failed: median.failed,
    totalMs: round(median.elapsedMs),
    tasksPerSecond: rate(median),
    dbMs: round(median.dbMs),
    queueMs: round(median.queueMs),
    dbCalls: median.dbCalls,
    queueCalls: median.queueCalls,
    dbShare: callMs > 0 ? Math.round((median.dbMs / callMs) * 1000) / 1000 : 0,
    batches: median.units,
    latencyMs: summarizeLatencies(median.latenciesMs),
    runsTasksPerSecond: runs.map(rate),
    failedAllRuns: runs.reduce((sum, r) => sum + r.failed, 0),
    error: runs.find((r) => r.error)?.error,
  };
}
