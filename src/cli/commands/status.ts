import type { Command } from 'commander';
import { sleep } from '../../concurrency/backoff.js';
import { jobStatus, jobStatusJson } from '../../core/job-status.js';
import { loadJob } from '../../core/jobs.js';
import { type GlobalOptions, withContext } from '../context.js';
import { interruption } from '../interrupt.js';

/** How often --watch refreshes. */
const WATCH_MS = 1_000;

export function registerStatus(program: Command, globals: () => GlobalOptions): void {
  program
    .command('status')
    .description("a job's status: current stage, per-stage counts, rate and first errors")
    .argument('<jobId>', 'job id, or at least its first 8 characters')
    .option('--watch', 'refresh every second on a terminal until the job ends (Ctrl-C leaves)')
    .action(async (jobId: string, flags: { watch?: boolean }) => {
      await withContext(globals(), async (ctx) => {
        // One connection: its three reads wait for each other, which costs less than a second
        // and a third authentication would (each a key derivation); --json runs in script loops.
        const db = await ctx.store(0);
        const id = (await loadJob(db, jobId)).jobId;
        const read = async () => jobStatus(db, await loadJob(db, id));
        if (ctx.output.jsonMode) {
          ctx.output.json(jobStatusJson(await read()));
          return;
        }
        // The tables' modules are for people; --json, which scripts call in loops, never loads them.
        const { renderJobStatus } = await import('../render/status.js');
        if (!flags.watch || !ctx.output.toTerminal) {
          renderJobStatus(ctx.output, await read());
          return;
        }
        const stop = interruption.graceful();
        for (;;) {
          const report = await read();
          ctx.output.redraw(() => renderJobStatus(ctx.output, report));
          if (report.status !== 'processing' || stop.aborted) return;
          await sleep(WATCH_MS, stop);
          if (stop.aborted) return;
        }
      });
    });
}
