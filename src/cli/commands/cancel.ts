import type { Command } from 'commander';
import { cancelJob } from '../../core/control.js';
import { cancelEndedError } from '../../core/control-documents.js';
import { loadJob } from '../../core/jobs.js';
import { type GlobalOptions, withContext } from '../context.js';
import { interruption } from '../interrupt.js';
import { intOption } from '../options.js';
import { cancelJson, renderCancel } from '../render/control.js';

export function registerCancel(program: Command, globals: () => GlobalOptions): void {
  program
    .command('cancel')
    .description('end a job (or one stage of it) cancelled at once: no task of it starts afterwards, on any transport')
    .argument('<jobId>', 'job id, or at least its first 8 characters')
    .option('--stage <n>', 'cancel this stage (and so the job, which cannot complete without it)', intOption('--stage', 1, 1_000))
    .option('--reason <text>', 'why, kept with the job and shown by geo status')
    .action(async (jobId: string, flags: { stage?: number; reason?: string }) => {
      await withContext(globals(), async (ctx) => {
        const db = await ctx.store(2);
        const job = await loadJob(db, jobId);
        // Marking the rows is resumable bookkeeping: an interrupt stops it, the next cancel finishes it.
        const signal = interruption.graceful();
        const progress = await ctx.output.progress({ done: 0, unit: 'tasks marked cancelled' });
        let result: Awaited<ReturnType<typeof cancelJob>>;
        try {
          result = await cancelJob({
            db,
            transportFor: ctx.transportFor,
            job,
            stage: flags.stage,
            reason: flags.reason,
            signal,
            onProgress: (n) => progress.update({ done: n, unit: 'tasks marked cancelled' }),
          });
        } finally {
          progress.stop();
        }
        // Exactly one document under --json: the error's, when nothing could be cancelled.
        const ended = cancelEndedError(result);
        if (ended) throw ended;
        if (ctx.output.jsonMode) ctx.output.json(cancelJson(result));
        else renderCancel(ctx.output, result);
      });
    });
}
