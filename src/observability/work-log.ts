import type { Advancement } from '../core/advance.js';
import type { Notify, WorkEvents } from '../core/events.js';
import type { WorkSummary } from '../core/work/options.js';
import { formatCount } from '../words.js';
import type { Logger } from './logging.js';

/**
 * The worker's log: its notices (all worth a warning: a lease or lock lost, a
 * dead worker found, a failed renewal or sweep), and one line per retry
 * scheduled, task failed for good, and finished stage handled.
 */
export function workLog(logger: Logger): { notice: Notify; events: WorkEvents } {
  return {
    notice: (message, detail) => {
      const { event = 'notice', ...fields } = detail ?? {};
      logger.warn(event, message, fields);
    },
    events: {
      taskFailed: (jobType, retry, _ms, d) => {
        const fields = { jobId: d.jobId, jobType, taskId: d.taskId, attempt: d.attempt, error: d.error };
        if (retry) {
          const at = d.retryAt?.toISOString();
          logger.info('task_retry_scheduled', `task ${d.taskId} failed (attempt ${d.attempt}), delivered again at ${at}: ${d.error}`, {
            ...fields,
            retryAt: at,
          });
        } else {
          logger.warn('task_failed', `task ${d.taskId} failed for good (attempt ${d.attempt}): ${d.error}`, fields);
        }
      },
      stageAdvanced: (a) => {
        const fields = { jobId: a.jobId, stage: a.stage, action: a.action, nextStage: a.nextStage, queuedTasks: a.queuedTasks, error: a.error?.message };
        const emit = a.action === 'job-failed' || a.action === 'retry-later' ? logger.warn : logger.info;
        emit('stage_advanced', `job ${a.jobId.slice(0, 16)} stage ${a.stage} finished: ${advancementWords(a)}`, fields);
      },
    },
  };
}

function advancementWords(a: Advancement): string {
  const why = a.error ? `: ${a.error.message}` : '';
  switch (a.action) {
    case 'queued-next-stage':
      return `queued stage ${a.nextStage} (${formatCount(a.queuedTasks ?? 0)} tasks)`;
    case 'job-completed':
      return 'the job completed';
    case 'job-failed':
      return `the job failed${why}`;
    case 'already-ended':
      return 'the job had already ended';
    case 'retry-later':
      return `not advanced yet, tried again at ${a.retryAt?.toISOString()}${why}`;
  }
}

/** The line `geo work` starts with. */
export function logWorkStarted(
  logger: Logger,
  s: { worker: string; transport: string; concurrency: number; jobTypes: readonly string[]; advanceOnly: boolean; metricsUrl?: string; traces?: string },
): void {
  const parts = [
    `worker ${s.worker}`,
    s.advanceOnly ? 'advancing stages and sweeping only' : `transport ${s.transport}, concurrency ${s.concurrency}`,
    `job types ${s.jobTypes.join(', ')}`,
    s.metricsUrl && `metrics at ${s.metricsUrl}`,
    s.traces && `traces to ${s.traces}`,
  ].filter(Boolean);
  logger.info('worker_started', `geo work started: ${parts.join('; ')}`, {
    worker: s.worker,
    transport: s.transport,
    concurrency: s.concurrency,
    jobTypes: s.jobTypes.join(','),
    advanceOnly: s.advanceOnly,
    metricsUrl: s.metricsUrl,
  });
}

/** The line `geo work` ends with. */
export function logWorkStopped(logger: Logger, s: WorkSummary): void {
  logger.info(
    'worker_stopped',
    `geo work stopped (${s.stoppedBy ?? 'done'}) after ${(s.elapsedMs / 1000).toFixed(1)}s: ${formatCount(s.tasks)} tasks run, ` +
      `${formatCount(s.completed)} completed, ${formatCount(s.retried)} retried, ${formatCount(s.failed)} failed, ${formatCount(s.released)} given back`,
    {
      stoppedBy: s.stoppedBy,
      tasks: s.tasks,
      completed: s.completed,
      retried: s.retried,
      failed: s.failed,
      released: s.released,
      leaseLost: s.leaseLost,
      lockLost: s.lockLost,
      elapsedMs: s.elapsedMs,
    },
  );
}
