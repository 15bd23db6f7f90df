import type { Command } from 'commander';
import { pauseJob, resumeJob } from '../../core/control.js';
import { pauseEndedError, resumeEndedError } from '../../core/control-documents.js';
import { loadJob } from '../../core/jobs.js';
import { type GlobalOptions, withContext } from '../context.js';
import { renderStateChange, stateChangeJson } from '../render/control.js';

/** `geo pause` and `geo resume`: one statement each on the job's row. */
export function registerPause(program: Command, globals: () => GlobalOptions): void {
  program
    .command('pause')
    .description("stop claiming a job's tasks and queueing its next stage until geo resume; other jobs go on")
    .argument('<jobId>', 'job id, or at least its first 8 characters')
    .action(async (jobId: string) => {
      await withContext(globals(), async (ctx) => {
        const db = await ctx.store(2);
        const change = await pauseJob(db, await loadJob(db, jobId));
        // Exactly one document under --json: the error's, when the job is not running.
        const ended = pauseEndedError(change);
        if (ended) throw ended;
        if (ctx.output.jsonMode) ctx.output.json(stateChangeJson(change));
        else renderStateChange(ctx.output, change);
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
        const ended = resumeEndedError(change);
        if (ended) throw ended;
        if (ctx.output.jsonMode) ctx.output.json(stateChangeJson(change));
        else renderStateChange(ctx.output, change);
      });
    });
}
