import type { DispatchProgress } from '../../core/protocol/dispatch-stage.js';
import type { StageRunResult } from '../../core/protocol/queue-stage.js';
import { formatCount, formatSeconds, plural } from '../format.js';
import type { Output } from '../output.js';
import type { ProgressState } from '../progress.js';

export type StageCommand = 'submit' | 'queue-stage';
export type StageRun = StageRunResult & { jobCreated?: boolean };

/** The `--json` document of submit and queue-stage (see the interface contract). */
export function stageRunJson(result: StageRun) {
  return {
    jobId: result.jobId,
    jobType: result.jobType,
    jobStatus: result.jobStatus,
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

/** The progress bar's state: tasks handled (queued, pending or failed) of the stage's tasks. */
export function stageProgress(p: DispatchProgress): ProgressState {
  const problems = p.pendingQueue + p.failed > 0 ? `${formatCount(p.pendingQueue)} pending, ${formatCount(p.failed)} failed` : undefined;
  return { done: p.queued + p.pendingQueue + p.failed, total: p.tasks, unit: 'tasks', note: problems };
}

/** Printed when geo has to quit at once (a second Ctrl-C): where it was and how to go on. */
export function stageQuitNote(p: DispatchProgress | undefined): string {
  // Until the first group is recorded there is no count to give; batches may be written already.
  const where = p ? `, ${formatCount(p.queued)} of ${plural(p.tasks, 'task')} queued` : '';
  return `stopped at once${where}; run the same command again (or geo retry-pending) to finish`;
}

export function renderStageRun(output: Output, command: StageCommand, result: StageRun): void {
  output.line(`job ${result.jobId}`);
  output.line(`  ${result.jobType} stage ${result.stage} (${result.stageName}) ${verb(command, result)} via ${result.transport}`);
  // The counts below are of sending; a job that has ended says so, or "queued" reads as work to come.
  if (result.jobStatus === 'completed') output.line(`  the job has completed (geo results ${result.jobId.slice(0, 12)} prints its results)`);
  if (result.jobStatus === 'failed') output.line(`  the job has failed (geo status ${result.jobId.slice(0, 12)} shows why)`);
  output.line(
    `  ${plural(result.tasks, 'task')} in ${plural(result.batches, 'batch', 'batches')}: ` +
      `${formatCount(result.queued)} queued, ${formatCount(result.pendingQueue)} pending_queue, ${formatCount(result.failed)} failed` +
      (result.notWritten > 0 ? `, ${formatCount(result.notWritten)} not written` : ''),
  );
  output.line(
    `  ${plural(result.createdTasks, 'new task')} in ${formatSeconds(result.elapsedMs)}` +
      (result.createdTasks > 0 ? ` (${formatCount(result.tasksPerSecond)} tasks/s)` : ''),
  );
  if (result.stoppedBy) {
    output.line(`  stopped: ${result.stoppedBy.code === 'INTERRUPTED' ? 'interrupted' : result.stoppedBy.message}`);
  }
  if (result.pendingQueue > 0 || result.notWritten > 0) {
    output.line('  run the same command again (or geo retry-pending) to finish');
  }
  output.line(`  status: geo batches ${result.jobId.slice(0, 12)}`);
}

/** "already ..." only when the run found everything done and did nothing; a run that stopped early says so first. */
function verb(command: StageCommand, result: StageRun): string {
  const doing = command === 'submit' ? 'submitting' : 'queuing';
  if (result.stoppedBy) return `${result.stoppedBy.code === 'INTERRUPTED' ? 'interrupted' : 'stopped'} while ${doing}`;
  const idle = result.createdTasks === 0 && result.pendingQueue === 0 && result.notWritten === 0;
  if (command === 'submit') return idle && result.jobCreated === false ? 'already submitted' : 'submitted';
  return idle ? 'already queued' : 'queued';
}
