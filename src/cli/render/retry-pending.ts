import Table from 'cli-table3';
import type { RetryPendingResult } from '../../core/recovery.js';
import { formatCount, type Output } from '../output.js';

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

export function renderRetryPending(output: Output, result: RetryPendingResult): void {
  if (result.wouldClaim) {
    output.line(`dry run: nothing was changed`);
    output.line(`  would claim ${formatCount(result.wouldClaim.length)} pending batches`);
    if (result.wouldClaim.length > 0) {
      const table = new Table({ head: ['batch', 'stage', 'transport', 'attempts', 'last error'], style: { head: [], border: [] } });
      for (const b of result.wouldClaim.slice(0, 50)) table.push([b.batchId, b.stage, b.transport, b.attempts, (b.lastError ?? '').slice(0, 60)]);
      output.line(table.toString());
      if (result.wouldClaim.length > 50) output.line(`  ... ${formatCount(result.wouldClaim.length - 50)} more (use --json)`);
    }
    renderHeldAndUnwritten(output, result);
    output.line(`  would re-queue ${formatCount(result.wouldRequeueStale ?? 0)} stale processing tasks`);
    output.line(`  ${formatCount(result.failedBatchesWaiting ?? 0)} failed batches wait for --include-failed`);
    return;
  }
  const seconds = (result.elapsedMs / 1000).toFixed(2);
  output.line(
    `claimed ${formatCount(result.claimedBatches)} batches, re-queued ${formatCount(result.requeuedTasks)} tasks in ${seconds}s`,
  );
  if (result.resetFailedBatches > 0) output.line(`  put ${formatCount(result.resetFailedBatches)} failed batches back to pending`);
  output.line(`  still pending: ${formatCount(result.stillPending)} tasks`);
  renderHeldAndUnwritten(output, result);
  for (const a of result.advanced) {
    const what = a.action === 'queued-next-stage' ? `queued stage ${a.nextStage}` : a.action.replace(/-/g, ' ');
    output.line(`  job ${a.jobId.slice(0, 16)} stage ${a.stage} finished: ${what}${a.error ? ` (${a.error.message})` : ''}`);
  }
  for (const job of result.unreachable) output.line(`  not reachable: job ${job.jobId.slice(0, 16)} (${job.destination}): ${job.reason}`);
  if (result.failed > 0 || result.failedTasks > 0) {
    output.line(`  gave up: ${formatCount(result.failed)} batches (${formatCount(result.failedTasks)} tasks) are now failed; --include-failed retries them`);
  }
  if (result.staleProcessingRequeued + result.staleProcessingFailed > 0) {
    output.line(
      `  stale processing tasks: ${formatCount(result.staleProcessingRequeued)} re-queued, ${formatCount(result.staleProcessingFailed)} failed`,
    );
  }
  if (result.stoppedBy) output.line(`  stopped: ${result.stoppedBy.message}`);
}

function renderHeldAndUnwritten(output: Output, result: RetryPendingResult): void {
  const held = result.heldByOthers;
  if (held.batches > 0) {
    output.line(`  held by other live processes: ${formatCount(held.batches)} batches (${formatCount(held.tasks)} tasks), left to them`);
  }
  for (const st of result.stages) {
    const state = st.finished
      ? 'written in full'
      : `${formatCount(st.writtenTasks)} of ${formatCount(st.expectedTasks)} tasks written` +
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
