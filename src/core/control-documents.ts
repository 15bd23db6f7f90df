import { InputError } from '../errors.js';
import type { CancelResult, RetryFailedResult, StateChange } from './control.js';

/**
 * The documents of the run-control commands (`--json`), which the dashboard's
 * actions answer with too, and the one rule for each of when the change did
 * not apply (the job had ended): an input error, exit 2 / HTTP 400.
 */

/** The `geo cancel --json` document. */
export function cancelDocument(r: CancelResult) {
  return {
    jobId: r.jobId,
    outcome: r.outcome,
    statementMs: Math.round(r.statementMs * 10) / 10,
    tasksCancelled: r.tasksCancelled,
    scheduledWithdrawn: r.scheduledWithdrawn,
    withdrawError: r.withdrawError,
    elapsedMs: Math.round(r.elapsedMs),
  };
}

/** The `geo pause --json` and `geo resume --json` document. */
export function stateChangeDocument(c: StateChange<string>) {
  return { jobId: c.jobId, outcome: c.outcome };
}

/** The `geo retry-failed --json` document. */
export function retryFailedDocument(r: RetryFailedResult) {
  return { jobId: r.jobId, outcome: r.outcome, tasks: r.tasks, stages: r.stages };
}

/** A cancel of a job that had completed or failed changed nothing: said as an error. */
export function cancelEndedError(r: CancelResult): InputError | undefined {
  if (r.outcome !== 'completed' && r.outcome !== 'failed') return undefined;
  return new InputError('JOB_ENDED', `job ${r.jobId.slice(0, 16)} had already ${r.outcome}; nothing was cancelled`);
}

/** A pause of a job that is not running changed nothing. */
export function pauseEndedError(c: StateChange<string>): InputError | undefined {
  if (c.outcome === 'paused' || c.outcome === 'already-paused') return undefined;
  return new InputError('JOB_ENDED', `job ${c.jobId.slice(0, 16)} has ${c.outcome}; only a running job can be paused`);
}

/** A resume of a job that is not running changed nothing. */
export function resumeEndedError(c: StateChange<string>): InputError | undefined {
  if (c.outcome === 'resumed' || c.outcome === 'not-paused') return undefined;
  return new InputError('JOB_ENDED', `job ${c.jobId.slice(0, 16)} has ${c.outcome}; only a paused job can be resumed`);
}
