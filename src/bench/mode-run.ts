import type { CallClock } from './timing.js';

/** What one timed run of one mode measured. */
export interface ModeRun {
  /** Tasks the run set out to queue. */
  tasks: number;
  queued: number;
  /** Tasks not queued: a send that failed, or a batch left pending or failed. */
  failed: number;
  elapsedMs: number;
  dbMs: number;
  dbCalls: number;
  queueMs: number;
  queueCalls: number;
  /** Units of work: batches (aligned) or tasks (individual, a batch of one). */
  units: number;
  /** Per unit: from the start of its database write to the end of its send (or its last write). */
  latenciesMs: number[];
  /** When some tasks were not queued: why (the last error, or why the run stopped early). */
  error?: string;
}

/** Progress of a run: tasks done so far. */
export type RunProgress = (done: number) => void;

export function clockFigures(clock: CallClock): Pick<ModeRun, 'dbMs' | 'dbCalls' | 'queueMs' | 'queueCalls'> {
  return { dbMs: clock.dbMs, dbCalls: clock.dbCalls, queueMs: clock.queueMs, queueCalls: clock.queueCalls };
}
