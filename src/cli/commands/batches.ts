import type { Command } from 'commander';
import { batchReport } from '../../core/batch-report.js';
import { loadJob } from '../../core/jobs.js';
import { describeStages } from '../../core/stage-names.js';
import { InputError } from '../../errors.js';
import { TASK_STATUSES, type TaskStatus } from '../../statuses.js';
import type { JobRow } from '../../store/jobs.js';
import { type GlobalOptions, withContext } from '../context.js';
import { intOption } from '../options.js';
import { batchReportJson, renderBatchReport } from '../render/batches.js';

interface BatchesFlags {
  all?: boolean;
  stage?: number;
  status?: string;
  limit?: number;
}

/** Rows a person sees at most unless --limit says otherwise; --json lists all unless limited. */
const DEFAULT_ROWS = 50;

export function registerBatches(program: Command, globals: () => GlobalOptions): void {
  program
    .command('batches')
    .description('per-batch status of a job: a summary, then the batches that need attention')
    .argument('<jobId>', 'job id, or at least its first 8 characters')
    .option('--all', 'list every batch, not only problem batches')
    .option('--stage <n>', 'only this stage', intOption('--stage', 1, 1_000))
    .option('--status <status>', `only batches with this status or with tasks in it (${TASK_STATUSES.join(', ')})`)
    .option('--limit <n>', `rows to list at most (default: ${DEFAULT_ROWS}; under --json: all)`, intOption('--limit', 1, 10_000_000))
    .action(async (jobId: string, flags: BatchesFlags) => {
      const status = parseStatus(flags.status);
      await withContext(globals(), async (ctx) => {
        const db = await ctx.store(2);
        const job = await loadJob(db, jobId);
        if (flags.stage !== undefined) await assertStageExists(job, flags.stage);
        const report = await batchReport(db, job.jobId, { stage: flags.stage, status });
        if (ctx.output.jsonMode) ctx.output.json(batchReportJson(report, flags.limit));
        else renderBatchReport(ctx.output, report, { all: flags.all ?? false, status, limit: flags.limit ?? DEFAULT_ROWS });
      });
    });
}

function parseStatus(value: string | undefined): TaskStatus | undefined {
  if (value === undefined) return undefined;
  if (!(TASK_STATUSES as readonly string[]).includes(value)) {
    throw new InputError('INVALID_OPTION', `--status must be one of ${TASK_STATUSES.join(', ')} (got "${value}")`);
  }
  return value as TaskStatus;
}

/** A stage the job type does not have is a mistake, not an empty list. */
async function assertStageExists(job: JobRow, stage: number): Promise<void> {
  if (stage <= job.stageCount) return;
  throw new InputError('STAGE_NOT_FOUND', `--stage ${stage}: ${job.jobType} has no stage ${stage}; its stages: ${await describeStages(job)}`);
}
