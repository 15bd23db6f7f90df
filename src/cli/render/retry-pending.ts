import type { RetryPendingResult } from '../../core/recovery.js';
import { formatCount, formatSeconds, plural } from '../format.js';
import type { Output } from '../output.js';
import type { ProgressState } from '../progress.js';
import { formatTable } from '../table.js';

/** The `--json` document of retry-pending (see the interface contract). */
export function retryPendingJson(result: RetryPendingResult, dryRun: boolean) {
  return {
    claimedBatches: result.claimedBatches,
    requeuedTasks: result.requeuedTasks,
    stillPending: result.stillPending,
    heldByOthers: result.heldByOthers,
    notWritten: result.notWritten,
    stages: result.stages.map((st) => ({
      jobId: st.jobId,
      stage: st.stage,
      expectedTasks: st.expectedTasks,
      writtenTasks: st.writtenTasks,
      finished: st.finished,
      heldByLiveWriter: st.heldByLiveWriter,
      error: st.stoppedBy ? { code: st.stoppedBy.code, message: st.stoppedBy.message } : undefined,
    })),
    unreachable: result.unreachable,
    advancedStages: result.advanced.map((a) => ({
      jobId: a.jobId,
      stage: a.stage,
      action: a.action,
      nextStage: a.nextStage,
      error: a.error ? { code: a.error.code, message: a.error.message } : undefined,
    })),
    failed: result.failed,
    failedTasks: result.failedTasks,
    staleProcessingRequeued: result.staleProcessingRequeued,
    staleProcessingFailed: result.staleProcessingFailed,
    resetFailedBatches: result.resetFailedBatches,
    dryRun,
    wouldClaim: result.wouldClaim?.map((b) => ({
      batchId: b.batchId,
      jobId: b.jobId,
      stage: b.stage,
      transport: b.transport,
      attempts: b.attempts,
      lastError: b.lastError,
    })),
    wouldRequeueStale: result.wouldRequeueStale,
    failedBatchesWaiting: result.failedBatchesWaiting,
    elapsedMs: result.elapsedMs,
    error: result.stoppedBy ? { code: result.stoppedBy.code, message: result.stoppedBy.message } : undefined,
  };
}

/** The progress display's state: the sweep finds its batches as it goes, so there is no total. */
export function recoveryProgress(p: { claimedBatches: number; requeuedTasks: number }): ProgressState {
  return { done: p.claimedBatches, unit: 'batches claimed', note: `${plural(p.requeuedTasks, 'task')} re-queued` };
}

/** Printed when geo has to quit at once: what was done and what happens to the rest. */
export function recoveryQuitNote(p: { claimedBatches: number; requeuedTasks: number } | undefined, leaseSeconds: number): string {
  const done = p ? ` after claiming ${plural(p.claimedBatches, 'batch', 'batches')} (${plural(p.requeuedTasks, 'task')} re-queued)` : '';
  return `stopped at once${done}; the batches it held are free again when their ${leaseSeconds}s claims lapse: run geo retry-pending again`;
}

const DRY_RUN_ROWS = 50;

export function renderRetryPending(output: Output, result: RetryPendingResult): void {
  if (result.wouldClaim) {
    const due = result.wouldClaim;
    output.line('dry run: nothing was changed');
    output.line(`  would claim ${plural(due.length, 'pending batch', 'pending batches')}${due.length > 0 ? ':' : ''}`);
    if (due.length > 0) renderDue(output, result);
    renderHeldAndUnwritten(output, result);
    output.line(`  would re-queue ${plural(result.wouldRequeueStale ?? 0, 'stale processing task')}`);
    output.line(`  ${plural(result.failedBatchesWaiting ?? 0, 'failed batch', 'failed batches')} wait for --include-failed`);
    return;
  }
  output.line(
    `claimed ${plural(result.claimedBatches, 'batch', 'batches')}, re-queued ${plural(result.requeuedTasks, 'task')} in ${formatSeconds(result.elapsedMs)}`,
  );
  if (result.resetFailedBatches > 0) output.line(`  put ${plural(result.resetFailedBatches, 'failed batch', 'failed batches')} back to pending`);
  output.line(`  still pending: ${plural(result.stillPending, 'task')}`);
  renderHeldAndUnwritten(output, result);
  for (const a of result.advanced) {
    const what = a.action === 'queued-next-stage' ? `queued stage ${a.nextStage}` : a.action.replace(/-/g, ' ');
    output.line(`  job ${a.jobId.slice(0, 16)} stage ${a.stage} finished: ${what}${a.error ? ` (${a.error.message})` : ''}`);
  }
  for (const job of result.unreachable) output.line(`  not reachable: job ${job.jobId.slice(0, 16)} (${job.destination}): ${job.reason}`);
  if (result.failed > 0 || result.failedTasks > 0) {
    output.line(
      `  gave up: ${plural(result.failed, 'batch', 'batches')} (${plural(result.failedTasks, 'task')}) are now failed; --include-failed retries them`,
    );
  }
  if (result.staleProcessingRequeued + result.staleProcessingFailed > 0) {
    output.line(
      `  stale processing tasks: ${formatCount(result.staleProcessingRequeued)} re-queued, ${formatCount(result.staleProcessingFailed)} failed`,
    );
  }
  if (result.stoppedBy) output.line(`  stopped: ${result.stoppedBy.message}`);
}

/** The batches a real run would claim, with their job: a sweep covers every job. */
function renderDue(output: Output, result: RetryPendingResult): void {
  const due = result.wouldClaim!;
  const table = formatTable(
    [
      { header: 'job' },
      { header: 'batch' },
      { header: 'transport' },
      { header: 'attempts', align: 'right' },
      { header: 'last error', flex: true },
    ],
    due.slice(0, DRY_RUN_ROWS).map((b) => [
      output.fitted ? b.jobId.slice(0, 12) : b.jobId,
      // Fitted, the batch id drops its job id prefix, which the job column shows.
      output.fitted ? b.batchId.slice(b.batchId.indexOf('-') + 1) : b.batchId,
      b.transport,
      formatCount(b.attempts),
      b.lastError ?? '',
    ]),
    output.width,
  );
  output.line(table.text);
  if (due.length > DRY_RUN_ROWS) output.line(`  ... ${formatCount(due.length - DRY_RUN_ROWS)} more (use --json)`);
}

function renderHeldAndUnwritten(output: Output, result: RetryPendingResult): void {
  const held = result.heldByOthers;
  if (held.batches > 0 || result.wouldClaim) {
    output.line(
      `  held by other live processes: ${plural(held.batches, 'batch', 'batches')} (${plural(held.tasks, 'task')}), left to them`,
    );
  }
  for (const st of result.stages) {
    const state = st.finished
      ? 'written in full'
      : `${formatCount(st.writtenTasks)} of ${plural(st.expectedTasks, 'task')} written` +
        (st.heldByLiveWriter ? ' (a live writer holds it)' : st.stoppedBy ? `: ${st.stoppedBy.message}` : '');
    output.line(`  stage ${st.stage} of job ${st.jobId.slice(0, 16)}: ${state}`);
  }
}

/** True when a run did nothing and found nothing wrong: cron output stays empty. */
export function isQuiet(result: RetryPendingResult): boolean {
  return (
    result.claimedBatches + result.resetFailedBatches + result.stillPending + result.failed === 0 &&
    result.stages.length + result.unreachable.length + result.advanced.length === 0 &&
    result.staleProcessingRequeued + result.staleProcessingFailed === 0 &&
    !result.stoppedBy
  );
}
