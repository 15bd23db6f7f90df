import type { Command } from 'commander';
import { pauseJob, resumeJob } from '../../core/control.js';
import { loadJob } from '../../core/jobs.js';
import { InputError } from '../../errors.js';
import { type GlobalOptions, withContext } from '../context.js';
import { renderStateChange, stateChangeJson } from '../render/control.js';

/** `geo pause` and `geo resume`: one statement each on the job's row. */
export function registerPause(program: Command, globals: () => GlobalOptions): void {
  program
    .command('pause')
    .description('stop claiming a job\'s tasks and queueing its next stage until geo resume; other jobs go on')
    .argument('<jobId>', 'job id, or at least its first 8 characters')
    .action(async (jobId: string) => {
      await withContext(globals(), async (ctx) => {
        const db = await ctx.store(2);
        const change = await pauseJob(db, await loadJob(db, jobId));
        if (ctx.output.jsonMode) ctx.output.json(stateChangeJson(change));
        else renderStateChange(ctx.output, change);
        if (!['paused', 'already-paused'].includes(change.outcome)) {
          throw new InputError('JOB_ENDED', `job ${change.jobId.slice(0, 16)} has ${change.outcome}; only a running job can be paused`);
        }
      });
    });
  program
    .command('resume')
    .description('go on with a paused job where it stopped')
    .argument('<jobId>', 'job id, or at least its first 8 characters')
    .action(async (jobId: string) => {
      await withContext(globals(), async (ctx) => {
        const db = await ctx.store(2);
        const change = await resumeJob(db, await loadJob(db, jobId));
        if (ctx.output.jsonMode) ctx.output.json(stateChangeJson(change));
        else renderStateChange(ctx.output, change);
        if (!['resumed', 'not-paused'].includes(change.outcome)) {
          throw new InputError('JOB_ENDED', `job ${change.jobId.slice(0, 16)} has ${change.outcome}; only a paused job can be resumed`);
        }
      });
    });
}
