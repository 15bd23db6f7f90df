import type { Command } from 'commander';
import type { TransportName } from '../../config/index.js';
import { loadJob } from '../../core/jobs.js';
import { queueStage } from '../../core/protocol/queue-stage.js';
import { type GlobalOptions, withContext } from '../context.js';
import { intOption } from '../options.js';
import { addDispatchOptions, assertFlagsApply, contextFlags, type DispatchFlags, openRunTransport, runDispatch } from './stage-options.js';

export function registerQueueStage(program: Command, globals: () => GlobalOptions): void {
  addDispatchOptions(
    program
      .command('queue-stage')
      .description("build a stage's tasks and queue the missing ones (idempotent)")
      .argument('<jobId>', 'job id, or at least its first 8 characters')
      .argument('<stage>', 'stage number', intOption('<stage>', 1, 1_000))
      .option('--force', "queue even though the stage's input stage has not completed"),
  ).action(async (jobId: string, stage: number, flags: DispatchFlags & { force?: boolean }) => {
    // Without --transport (or GEO_TRANSPORT) the job's own transport is used.
    await withContext({ ...globals(), ...contextFlags(flags) }, async (ctx) => {
      const db = await ctx.store(flags.concurrency + 2);
      const job = await loadJob(db, jobId);
      const name = ctx.config.transport ?? (job.processingPath as TransportName);
      assertFlagsApply(flags, name);
      // The job's own destination, or (with --transport) a deliberate mismatch that queueStage refuses.
      const transport = await openRunTransport(name, () =>
        ctx.config.transport ? ctx.transport(ctx.config.transport) : ctx.transportFor({ transport: name, destination: job.destination }),
      );
      await runDispatch(ctx, flags, 'queue-stage', job.jobId, (options) => queueStage({ db, transport, job, stage, force: flags.force, options }));
    });
  });
}
