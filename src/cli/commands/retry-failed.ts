import type { Command } from 'commander';
import { retryFailed } from '../../core/control.js';
import { loadJob } from '../../core/jobs.js';
import { type GlobalOptions, withContext } from '../context.js';
import { intOption } from '../options.js';
import { renderRetryFailed, retryFailedJson } from '../render/control.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerRetryFailed(program: Command, globals: () => GlobalOptions): void {
  program
    .command('retry-failed')
    .description("run a job's failed tasks again (after fixing what failed), fresh; their earlier runs stay in their history")
    .argument('<jobId>', 'job id, or at least its first 8 characters')
    .option('--stage <n>', 'only the failed tasks of this stage', intOption('--stage', 1, 1_000))
    .option('--task <taskId>', 'only this task (repeatable)', collect)
    .action(async (jobId: string, flags: { stage?: number; task?: string[] }) => {
      await withContext(globals(), async (ctx) => {
        const db = await ctx.store(2);
        const result = await retryFailed({ db, job: await loadJob(db, jobId), stage: flags.stage, taskIds: flags.task });
        if (ctx.output.jsonMode) ctx.output.json(retryFailedJson(result));
        else renderRetryFailed(ctx.output, result);
      });
    });
}
