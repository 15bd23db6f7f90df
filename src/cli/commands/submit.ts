import type { Command } from 'commander';
import { prepareJob } from '../../core/jobs.js';
import { submitJob } from '../../core/submit.js';
import { InputError } from '../../errors.js';
import { type GlobalOptions, withContext } from '../context.js';
import { collectParam } from '../options.js';
import { addDispatchOptions, assertFlagsApply, contextFlags, runDispatch, type DispatchFlags } from './stage-options.js';

interface SubmitFlags extends DispatchFlags {
  n?: string;
  param?: Record<string, string>;
}

export function registerSubmit(program: Command, globals: () => GlobalOptions): void {
  addDispatchOptions(
    program
      .command('submit')
      .description('create a job and queue its first stage (run again to resume an interrupted submit)')
      .argument('<type>', 'job type, e.g. hello_world')
      .option('--n <count>', 'number of tasks (the job parameter n)')
      .option('--param <key=value>', 'a job parameter; repeatable', collectParam),
  ).action(async (type: string, flags: SubmitFlags) => {
    const raw: Record<string, unknown> = { ...flags.param };
    if (flags.n !== undefined) {
      if ('n' in raw) throw new InputError('INVALID_PARAM', 'give n once: --n or --param n=..., not both');
      raw.n = flags.n;
    }
    // Validate before anything connects, so bad input writes nothing.
    const job = prepareJob(type, raw);
    await withContext({ ...globals(), ...contextFlags(flags) }, async (ctx) => {
      assertFlagsApply(flags, ctx.config.transport ?? 'local');
      const transport = await ctx.transport();
      const db = await ctx.store(flags.concurrency + 2);
      await runDispatch(ctx, flags, 'submit', (options) => submitJob({ db, transport, job, destination: ctx.destination(transport.name), options }));
    });
  });
}
