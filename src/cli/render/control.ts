import type { CancelResult, RetryFailedResult, StateChange } from '../../core/control.js';

export { cancelDocument as cancelJson, retryFailedDocument as retryFailedJson, stateChangeDocument as stateChangeJson } from '../../core/control-documents.js';

import { plural } from '../format.js';
import type { Output } from '../output.js';

export function renderCancel(output: Output, r: CancelResult): void {
  const job = `job ${r.jobId}`;
  switch (r.outcome) {
    case 'cancelled':
    case 'already-cancelled':
      output.line(r.outcome === 'cancelled' ? `${job} cancelled: no task of it starts from now on` : `${job} was already cancelled`);
      if (r.tasksCancelled > 0) output.line(`  ${plural(r.tasksCancelled, 'task')} not started are marked cancelled`);
      if (r.scheduledWithdrawn > 0) output.line(`  ${plural(r.scheduledWithdrawn, 'scheduled retry', 'scheduled retries')} withdrawn from the broker`);
      if (r.withdrawError) output.line(`  scheduled retries were not withdrawn (${r.withdrawError}); they are acknowledged unrun when they arrive`);
      return;
    case 'missing':
      output.line(`${job} does not exist`);
      return;
    default:
      output.line(`${job} had already ${r.outcome}; nothing was cancelled`);
  }
}

const SAID: Record<string, string> = {
  paused: 'paused: none of its tasks is claimed, and its next stage waits, until geo resume',
  'already-paused': 'was already paused',
  resumed: 'resumed: its tasks and its next stage go on',
  'not-paused': 'was not paused',
};

export function renderStateChange(output: Output, c: StateChange<string>): void {
  output.line(`job ${c.jobId} ${SAID[c.outcome] ?? `has ${c.outcome}`}`);
}

export function renderRetryFailed(output: Output, r: RetryFailedResult): void {
  if (r.outcome === 'nothing-failed') {
    output.line(`job ${r.jobId}: nothing failed, nothing to run again`);
    return;
  }
  output.line(`job ${r.jobId} reopened: ${plural(r.tasks, 'failed task')} run again, ${plural(r.stages, 'stage')} reopened`);
  output.line('  a running geo work (or geo retry-pending) takes it from here; geo status follows it');
}
