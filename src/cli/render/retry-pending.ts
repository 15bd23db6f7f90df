import type { RetryPendingResult } from '../../core/sweep/retry-pending.js';
import type { TaskHolder } from '../../store/holders.js';
import { formatCount, formatSeconds, plural } from '../format.js';
import type { Output } from '../output.js';
import type { ProgressState } from '../progress.js';
import { formatTable } from '../table.js';

const errorOf = (e: { code: string; message: string } | undefined) => (e ? { code: e.code, message: e.message } : undefined);

/** The `--json` document of retry-pending (see the interface contract). */
export function retryPendingJson(result: RetryPendingResult, dryRun: boolean) {
  return {
    claimedBatches: result.claimedBatches,
    requeuedTasks: result.requeuedTasks,
    sentTasks: result.sentTasks,
    stillPending: result.stillPending,
    heldByOthers: result.heldByOthers,
    heldByLiveSessions: result.heldByLiveSessions,
    notWritten: result.notWritten,
    stages: result.stages.map((st) => ({
      jobId: st.jobId,
      stage: st.stage,
      expectedTasks: st.expectedTasks,
      writtenTasks: st.writtenTasks,
      finished: st.finished,
      heldByLiveWriter: st.heldByLiveWriter,
      writer: st.writer ?? undefined,
      leaseUntil: st.heldByLiveWriter ? st.leaseUntil?.toISOString() : undefined,
      error: errorOf(st.stoppedBy),
    })),
    heldTasks: result.heldTasks.map((h) => ({
      worker: h.worker,
      tasks: h.tasks,
      leaseUntil: h.leaseUntil.toISOString(),
      // A live geo session proves the worker is alive; otherwise only its lease does.
      liveSession: h.session ?? undefined,
    })),
    reapedSessions: result.reapedSessions.map((s) => ({
      worker: s.worker,
      host: s.host,
      pid: s.pid,
      command: s.command,
      freed: { tasks: s.tasks, batches: s.batches, stages: s.stages, stageCompletions: s.stageCompletions, redeliveries: s.redeliveries },
    })),
    redelivered: { sent: result.redelivered.sent, notNeeded: result.redelivered.notNeeded, failed: result.redelivered.failed },
    owed: result.owed,
    deadLetters: result.deadLetters,
    unreachable: result.unreachable,
    advancedStages: result.advanced.map((a) => ({
      jobId: a.jobId,
      stage: a.stage,
      action: a.action,
      nextStage: a.nextStage,
      queuedTasks: a.queuedTasks,
      retryAt: a.retryAt?.toISOString(),
      error: errorOf(a.error),
    })),
    failingAdvancements: result.failingAdvancements.map((f) => ({ ...f, retryAt: f.retryAt?.toISOString() })),
    failed: result.failed,
    failedTasks: result.failedTasks,
    staleProcessingRequeued: result.staleProcessingRequeued,
    staleProcessingFailed: result.staleProcessingFailed,
    staleProcessingCancelled: result.lapsed.cancelled,
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
    error: errorOf(result.stoppedBy),
  };
}

/** The progress display's state: the sweep finds its batches as it goes, so there is no total. */
export function recoveryProgress(p: { claimedBatches: number; requeuedTasks: number }): ProgressState {
  return { done: p.claimedBatches, unit: 'batches claimed', note: `${plural(p.requeuedTasks, 'task')} re-queued` };
}

/** Printed when geo has to quit at once: what was done and what happens to the rest. */
export function recoveryQuitNote(p: { claimedBatches: number; requeuedTasks: number } | undefined): string {
  const done = p ? ` after claiming ${plural(p.claimedBatches, 'batch', 'batches')} (${plural(p.requeuedTasks, 'task')} re-queued)` : '';
  return `stopped at once${done}; what it held is free again as soon as this process has exited: run geo retry-pending again`;
}

const DRY_RUN_ROWS = 50;

export function renderRetryPending(output: Output, result: RetryPendingResult): void {
  if (result.wouldClaim) {
    const due = result.wouldClaim;
    output.line('dry run: nothing was changed');
    output.line(`  would claim ${plural(due.length, 'pending batch', 'pending batches')}${due.length > 0 ? ':' : ''}`);
    if (due.length > 0) renderDue(output, result);
    renderLeft(output, result);
    output.line(`  would put back ${plural(result.wouldRequeueStale ?? 0, 'task')} whose worker's claim lapsed or whose worker died`);
    output.line(`  ${plural(result.failedBatchesWaiting ?? 0, 'failed batch', 'failed batches')} wait for --include-failed`);
    return;
  }
  output.line(
    `claimed ${plural(result.claimedBatches, 'batch', 'batches')}, re-queued ${plural(result.requeuedTasks, 'task')}, ` +
      `sent ${plural(result.sentTasks, 'task')} in all, in ${formatSeconds(result.elapsedMs)}`,
  );
  for (const s of result.reapedSessions) {
    const held = [plural(s.tasks, 'task'), plural(s.batches, 'batch', 'batches'), plural(s.stages, 'stage')].join(', ');
    output.line(`  found ${s.command} (pid ${s.pid} on ${s.host}) dead: freed what it held (${held})`);
  }
  if (result.resetFailedBatches > 0) output.line(`  put ${plural(result.resetFailedBatches, 'failed batch', 'failed batches')} back to pending`);
  const lapsed = result.lapsed;
  if (lapsed.requeued + lapsed.failed + lapsed.cancelled > 0) {
    output.line(
      `  tasks whose worker's claim lapsed: ${formatCount(lapsed.requeued)} delivered again, ${formatCount(lapsed.failed)} failed ` +
        `(no attempts left), ${formatCount(lapsed.cancelled)} cancelled (their job had ended)`,
    );
  }
  if (result.redelivered.sent + result.redelivered.failed > 0) {
    output.line(`  owed messages: ${formatCount(result.redelivered.sent)} sent, ${formatCount(result.redelivered.failed)} failed to send`);
  }
  if (result.deadLetters.removed > 0) {
    output.line(
      `  dead-letter queues: took back ${plural(result.deadLetters.removed, 'task message')}, ` +
        `${formatCount(result.deadLetters.redelivered)} of their tasks delivered again`,
    );
  }
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
  renderLeft(output, result);
  if (result.stoppedBy) output.line(`  stopped: ${result.stoppedBy.message}`);
}

/** The batches a real run would claim, with their job: a sweep covers every job. */
function renderDue(output: Output, result: RetryPendingResult): void {
  const due = result.wouldClaim!;
  const table = formatTable(
    [{ header: 'job' }, { header: 'batch' }, { header: 'transport' }, { header: 'attempts', align: 'right' }, { header: 'last error', flex: true }],
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

/** What is left after the run, and why: what makes its exit code 1. */
function renderLeft(output: Output, result: RetryPendingResult): void {
  output.line(`  still pending: ${plural(result.stillPending, 'task')}`);
  const held = result.heldByOthers;
  if (held.batches > 0 || result.wouldClaim) {
    output.line(`  being sent by other live processes: ${plural(held.batches, 'batch', 'batches')} (${plural(held.tasks, 'task')})`);
  }
  for (const st of result.stages) {
    const writer = st.writer ? ` (written by pid ${st.writer.pid} on ${st.writer.host}, alive)` : ' (a writer holds it until its lease lapses)';
    const state = st.finished
      ? 'written in full'
      : `${formatCount(st.writtenTasks)} of ${plural(st.expectedTasks, 'task')} written` +
        (st.heldByLiveWriter ? writer : st.stoppedBy ? `: ${st.stoppedBy.message}` : '');
    output.line(`  stage ${st.stage} of job ${st.jobId.slice(0, 16)}: ${state}`);
  }
  for (const h of result.heldTasks) output.line(`  ${describeHolder(h)}`);
  if (result.owed.unsent > 0) {
    output.line(`  ${plural(result.owed.unsent, 'owed message')} not sent yet${result.owed.lastError ? ` (last error: ${result.owed.lastError})` : ''}`);
  }
  for (const f of result.failingAdvancements) {
    const next = f.retryAt ? `; tried again at ${f.retryAt.toISOString()}` : '';
    output.line(`  job ${f.jobId.slice(0, 16)} stage ${f.stage} is not advancing (${plural(f.attempts, 'attempt')}: ${f.lastError})${next}`);
  }
}

function describeHolder(h: TaskHolder): string {
  const who = h.session ? `geo worker pid ${h.session.pid} on ${h.session.host} (alive)` : `worker ${h.worker ?? '(unnamed)'}`;
  return `${plural(h.tasks, 'task')} held by ${who}, lease until ${h.leaseUntil.toISOString()}`;
}

/** True when a run did nothing and left nothing: cron output stays empty. */
export function isQuiet(result: RetryPendingResult): boolean {
  return (
    result.sentTasks + result.claimedBatches + result.resetFailedBatches + result.stillPending + result.failed === 0 &&
    result.stages.length + result.unreachable.length + result.advanced.length + result.reapedSessions.length === 0 &&
    result.lapsed.requeued + result.lapsed.failed + result.lapsed.cancelled + result.redelivered.failed + result.deadLetters.removed === 0 &&
    result.heldTasks.length + result.owed.unsent + result.failingAdvancements.length === 0 &&
    !result.stoppedBy
  );
}
