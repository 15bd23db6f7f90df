import type { Command } from 'commander';
import { archiveJob } from '../../core/archive.js';
import { loadJob } from '../../core/jobs.js';
import { type GlobalOptions, withContext } from '../context.js';
import { interruption } from '../interrupt.js';
import { archiveJson, renderArchive } from '../render/prune.js';

export function registerArchive(program: Command, globals: () => GlobalOptions): void {
  program
    .command('archive')
    .description('write a job, its stages and every task (parameters, result, error, attempts, history) to an NDJSON file')
    .argument('<jobId>', 'job id, or at least its first 8 characters')
    .requiredOption('--output <file>', 'the file to write (gzip-compressed when it ends in .gz; appears only when complete)')
    .action(async (jobId: string, flags: { output: string }) => {
      await withContext(globals(), async (ctx) => {
        const db = await ctx.store(2);
        const job = await loadJob(db, jobId);
        const signal = interruption.graceful();
        const progress = await ctx.output.progress({ done: 0, unit: 'tasks archived' });
        let result: Awaited<ReturnType<typeof archiveJob>>;
        try {
          result = await archiveJob({ db, job, file: flags.output, signal, onProgress: (n) => progress.update({ done: n, unit: 'tasks archived' }) });
        } finally {
          progress.stop();
        }
        if (ctx.output.jsonMode) ctx.output.json(archiveJson(result));
        else renderArchive(ctx.output, result);
      });
    });
}
