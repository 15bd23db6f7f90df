import { InputError } from '../errors.js';
import { isTaskStatus, TASK_STATUSES, type TaskStatus } from '../statuses.js';
import type { JobRow } from '../store/jobs.js';
import type { Queryable } from '../store/pool.js';
import { resultsStream } from '../store/results.js';
import { describeStages } from './stage-names.js';

export interface ResultsQuery {
  stages: number[];
  status?: TaskStatus;
}

/**
 * Checks `--stage` and `--status` against the job before anything is
 * streamed: a stage the job does not have is an input error naming the ones
 * it has.
 */
export async function resultsQuery(job: JobRow, options: { stage?: number; status?: string }): Promise<ResultsQuery> {
  const all = Array.from({ length: job.stageCount }, (_, i) => i + 1);
  if (options.stage !== undefined && !all.includes(options.stage)) {
    throw new InputError(
      'STAGE_NOT_FOUND',
      `job ${job.jobId.slice(0, 12)} (${job.jobType}) has no stage ${options.stage}; its stages: ${await describeStages(job)}`,
    );
  }
  if (options.status !== undefined && !isTaskStatus(options.status)) {
    throw new InputError('INVALID_STATUS', `--status must be one of ${TASK_STATUSES.join(', ')} (got "${options.status}")`);
  }
  return { stages: options.stage !== undefined ? [options.stage] : all, status: options.status as TaskStatus | undefined };
}

/**
 * The job's task results as NDJSON text, one chunk (many lines) per page:
 * `{"taskId", "key", "status", "result", "error"}` in task order, stage by
 * stage, plus `"history"` for a task retry-failed ran again: its earlier
 * runs, `[{attempts, error, failedAt, retriedAt}]`, oldest first. The key is
 * derived from the task id (`<id prefix>-s<stage>-<key>`); stored JSON
 * (result, history) is copied into the line without being parsed.
 */
export async function* resultLines(db: Queryable, job: JobRow, query: ResultsQuery): AsyncGenerator<{ text: string; lines: number }> {
  for (const stage of query.stages) {
    const keyStart = `${job.idPrefix}-s${stage}-`.length;
    for await (const rows of resultsStream(db, { jobId: job.jobId, stage, status: query.status })) {
      let text = '';
      for (const row of rows) {
        const history = row.history === null ? '' : `,"history":${row.history}`;
        text += `{"taskId":${JSON.stringify(row.taskId)},"key":${JSON.stringify(row.taskId.slice(keyStart))},"status":"${row.status}","result":${row.result ?? 'null'},"error":${row.error === null ? 'null' : JSON.stringify(row.error)}${history}}\n`;
      }
      yield { text, lines: rows.length };
    }
  }
}
