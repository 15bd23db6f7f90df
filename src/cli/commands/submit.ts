import type { Command } from 'commander';
import { INPUT_FORMATS, type InputFormat } from '../../core/input/source.js';
import { checkItemsSource, prepareJob } from '../../core/prepare-job.js';
import { submitJob } from '../../core/submit.js';
import { InputError } from '../../errors.js';
import { type GlobalOptions, withContext } from '../context.js';
import { collectParam } from '../options.js';
import { addDispatchOptions, assertFlagsApply, contextFlags, type DispatchFlags, openRunTransport, runDispatch } from './stage-options.js';
import { runInputSubmit } from './submit-input.js';

interface SubmitFlags extends DispatchFlags {
  n?: string;
  param?: Record<string, string>;
  input?: string;
  format?: InputFormat;
  strict?: boolean;
  errorsFile?: string;
}

export function registerSubmit(program: Command, globals: () => GlobalOptions): void {
  addDispatchOptions(
    program
      .command('submit')
      .description('create a job and queue its first stage (run again to resume an interrupted submit)')
      .argument('<type>', 'job type, e.g. hello_world (geo types lists them)')
      .option('--n <count>', 'number of tasks (the job parameter n)')
      .option('--param <key=value>', 'a job parameter; repeatable', collectParam)
      .option('--input <file>', 'items from an NDJSON or CSV file, - for stdin (job types built from items)')
      .option('--format <format>', 'format of --input: ndjson or csv (default: from the file name; ndjson for stdin)', inputFormat)
      .option('--strict', 'with --input: refuse the whole file if any line is rejected')
      .option('--errors-file <file>', 'with --input: write every rejected line as NDJSON {line, message}'),
  ).action(async (type: string, flags: SubmitFlags) => {
    const raw: Record<string, unknown> = { ...flags.param };
    if (flags.n !== undefined) {
      if ('n' in raw) throw new InputError('INVALID_PARAM', 'give n once: --n or --param n=..., not both');
      raw.n = flags.n;
    }
    if (flags.input === undefined) {
      const stray = [flags.format && '--format', flags.strict && '--strict', flags.errorsFile && '--errors-file'].filter(Boolean);
      if (stray.length > 0) throw new InputError('INVALID_OPTION', `${stray.join(', ')} only go with --input`);
    }
    // Validate before anything connects, so bad input writes nothing.
    const job = prepareJob(type, raw, { input: flags.input !== undefined });
    checkItemsSource(job, { input: flags.input !== undefined });
    await withContext({ ...globals(), ...contextFlags(flags) }, async (ctx) => {
      const name = ctx.transportName;
      assertFlagsApply(flags, name);
      if (flags.input !== undefined) {
        await runInputSubmit(ctx, { ...flags, input: flags.input }, job);
        return;
      }
      const transport = await openRunTransport(name, () => ctx.transport(name));
      const db = await ctx.store(flags.concurrency + 2);
      await runDispatch(ctx, flags, 'submit', job.jobId, (options) => submitJob({ db, transport, job, destination: ctx.destination(transport.name), options }));
    });
  });
}

function inputFormat(value: string): InputFormat {
  if (!(INPUT_FORMATS as readonly string[]).includes(value)) {
    throw new InputError('INVALID_OPTION', `--format must be ${INPUT_FORMATS.join(' or ')} (got "${value}")`);
  }
  return value as InputFormat;
}
