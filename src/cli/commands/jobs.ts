import type { Command } from 'commander';
import { DEFAULT_JOBS_LIMIT, jobListQuery, listJobs, MAX_JOBS_LIMIT } from '../../core/job-list.js';
import { JOB_STATUSES } from '../../statuses.js';
import { type GlobalOptions, withContext } from '../context.js';
import { intOption } from '../options.js';
import { jobListJson, renderJobList } from '../render/jobs.js';

export function registerJobs(program: Command, globals: () => GlobalOptions): void {
  program
    .command('jobs')
    .description('the jobs, newest first: type, status (paused shown), current stage, progress, age')
    .option('--status <status>', `only jobs with this status (${JOB_STATUSES.join(', ')})`)
    .option('--type <jobType>', 'only jobs of this job type')
    .option('--limit <n>', `jobs to list at most (default ${DEFAULT_JOBS_LIMIT})`, intOption('--limit', 1, MAX_JOBS_LIMIT))
    .action(async (flags: { status?: string; type?: string; limit?: number }) => {
      const query = jobListQuery(flags);
      await withContext(globals(), async (ctx) => {
        const db = await ctx.store(2);
        const list = await listJobs(db, query);
        if (ctx.output.jsonMode) ctx.output.json(jobListJson(list));
        else renderJobList(ctx.output, list, query);
      });
    });
}
