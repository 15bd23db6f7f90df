import type { DispatchProgress } from '../../core/dispatch.js';
import type { StageRunResult } from '../../core/stage.js';
import { formatCount, type Output } from '../output.js';

/** The `--json` document of submit and queue-stage (see the interface contract). */
export function stageRunJson(result: StageRunResult & { jobCreated?: boolean }) {
  return {
    jobId: result.jobId,
    jobType: result.jobType,
    stage: result.stage,
    stageName: result.stageName,
    transport: result.transport,
    tasks: result.tasks,
    batches: result.batches,
    queued: result.queued,
    pendingQueue: result.pendingQueue,
    failed: result.failed,
    notWritten: result.notWritten,
    createdTasks: result.createdTasks,
    jobCreated: result.jobCreated,
    elapsedMs: result.elapsedMs,
    tasksPerSecond: result.tasksPerSecond,
    error: result.stoppedBy ? { code: result.stoppedBy.code, message: result.stoppedBy.message } : undefined,
  };
}

export function progressText(p: DispatchProgress): string {
  const rate = p.elapsedMs > 0 ? Math.round(((p.queued + p.failed + p.pendingQueue) / p.elapsedMs) * 1000) : 0;
  const problems = p.pendingQueue + p.failed > 0 ? ` (${formatCount(p.pendingQueue)} pending, ${formatCount(p.failed)} failed)` : '';
  return `queued ${formatCount(p.queued)} / ${formatCount(p.tasks)} tasks${problems}, ${formatCount(p.batchesDone)} / ${formatCount(p.batches)} batches, ${formatCount(rate)} tasks/s`;
}

export function renderStageRun(output: Output, result: StageRunResult & { jobCreated?: boolean }): void {
  const seconds = (result.elapsedMs / 1000).toFixed(2);
  const verb = result.jobCreated === false && result.createdTasks === 0 ? 'already submitted' : 'submitted';
  output.line(`job ${result.jobId}`);
  output.line(`  ${result.jobType} stage ${result.stage} (${result.stageName}) ${verb} via ${result.transport}`);
  output.line(
    `  ${formatCount(result.tasks)} tasks in ${formatCount(result.batches)} batches: ` +
      `${formatCount(result.queued)} queued, ${formatCount(result.pendingQueue)} pending_queue, ${formatCount(result.failed)} failed` +
      (result.notWritten > 0 ? `, ${formatCount(result.notWritten)} not written` : ''),
  );
  output.line(
    `  ${formatCount(result.createdTasks)} new tasks in ${seconds}s` +
      (result.createdTasks > 0 ? ` (${formatCount(result.tasksPerSecond)} tasks/s)` : ''),
  );
  if (result.stoppedBy) output.line(`  stopped: ${result.stoppedBy.message}`);
  if (result.pendingQueue > 0 || result.notWritten > 0) {
    output.line('  run the same command again (or geo retry-pending) to finish sending');
  }
  output.line(`  status: geo batches ${result.jobId.slice(0, 12)}`);
}
