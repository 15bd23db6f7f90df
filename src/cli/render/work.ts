import type { WorkSummary } from '../../core/work/options.js';
import type { WorkCounts } from '../../core/work/tally.js';
import { formatCount } from '../format.js';
import type { Output } from '../output.js';
import type { ProgressState } from '../progress.js';

/** The `--json` document of `geo work`. */
export function workJson(s: WorkSummary) {
  return {
    tasks: s.tasks,
    completed: s.completed,
    failed: s.failed,
    retried: s.retried,
    deadLettered: s.deadLettered,
    malformed: s.malformed,
    duplicates: s.duplicates,
    busy: s.busy,
    cancelled: s.cancelled,
    missing: s.missing,
    jobsNotServed: s.jobsNotServed,
    stale: s.stale,
    lockLost: s.lockLost,
    leaseLost: s.leaseLost,
    released: s.released,
    advancedStages: s.advanced.map((a) => ({
      jobId: a.jobId,
      stage: a.stage,
      action: a.action,
      nextStage: a.nextStage,
      queuedTasks: a.queuedTasks,
      error: a.error ? { code: a.error.code, message: a.error.message } : undefined,
    })),
    stoppedBy: s.stoppedBy,
    heldByOthers: s.heldByOthers.map((h) => ({ worker: h.worker, tasks: h.tasks, leaseUntil: h.leaseUntil.toISOString() })),
    unreceived: s.unreceived,
    notServed: s.notServed,
    elapsedMs: s.elapsedMs,
    tasksPerSecond: s.tasksPerSecond,
  };
}

/** The progress line: tasks so far (no total: a worker does not know what will arrive). */
export function workProgress(c: Readonly<WorkCounts> | undefined, advanceOnly: boolean): ProgressState {
  if (advanceOnly) return { done: 0, unit: 'tasks', label: 'advancing stages' };
  const problems = c && c.failed + c.retried > 0 ? `${formatCount(c.retried)} retried, ${formatCount(c.failed)} failed` : undefined;
  return { done: c?.completed ?? 0, unit: 'tasks completed', label: 'working', note: problems };
}

export function renderWork(output: Output, s: WorkSummary): void {
  const seconds = (s.elapsedMs / 1000).toFixed(2);
  output.line(`ran ${formatCount(s.tasks)} tasks in ${seconds}s (${formatCount(s.tasksPerSecond)} tasks/s)`);
  output.line(`  ${formatCount(s.completed)} completed, ${formatCount(s.retried)} retried, ${formatCount(s.failed)} failed`);
  const other: Array<[number, string]> = [
    [s.deadLettered, 'dead-lettered'],
    [s.malformed, 'malformed'],
    [s.duplicates, 'already finished'],
    [s.busy, 'held by another claim'],
    [s.cancelled, 'of ended jobs'],
    [s.missing, 'no longer in the database'],
    [s.notServed, 'of job types not loaded here (given back)'],
    [s.stale, 'stale reports'],
    [s.lockLost, 'locks lost'],
    [s.leaseLost, 'leases lost'],
    [s.released, 'given back'],
  ];
  const shown = other.filter(([n]) => n > 0).map(([n, what]) => `${formatCount(n)} ${what}`);
  if (shown.length > 0) output.line(`  ${shown.join(', ')}`);
  for (const a of s.advanced) {
    const what = a.action === 'queued-next-stage' ? `queued stage ${a.nextStage}` : a.action.replace(/-/g, ' ');
    output.line(`  job ${a.jobId.slice(0, 16)} stage ${a.stage} finished: ${what}${a.error ? ` (${a.error.message})` : ''}`);
  }
  if (s.stoppedBy === 'signal') output.line('  stopped by a signal; tasks not finished were given back');
  for (const j of s.jobsNotServed) {
    output.line(`  not done: job ${j.jobId.slice(0, 16)} (${formatCount(j.tasks)} tasks left) is of job type "${j.jobType}", which no module here defines`);
  }
  for (const h of s.heldByOthers) {
    output.line(
      `  not done: ${formatCount(h.tasks)} tasks held by worker ${h.worker ?? '(unnamed)'} until ${h.leaseUntil.toISOString()} (its lease; it is not a geo process this can see)`,
    );
  }
  for (const u of s.unreceived) {
    output.line(`  not done: job ${u.jobId.slice(0, 16)} has ${formatCount(u.tasks)} tasks whose message did not come while this worker waited`);
  }
}
