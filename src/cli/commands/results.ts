import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import type { Command } from 'commander';
import { loadJob } from '../../core/jobs.js';
import { resultLines, resultsQuery } from '../../core/results.js';
import { GeoError, InputError } from '../../errors.js';
import { type GlobalOptions, withContext } from '../context.js';
import { EXIT, ExitCode } from '../exit-codes.js';
import { interruption } from '../interrupt.js';
import { intOption } from '../options.js';
import { renderResultsSummary, resultsJson } from '../render/results.js';

interface ResultsFlags {
  stage?: number;
  status?: string;
  output?: string;
}

export function registerResults(program: Command, globals: () => GlobalOptions): void {
  program
    .command('results')
    .description("stream a job's task results as NDJSON {taskId, key, status, result, error}, in task order")
    .argument('<jobId>', 'job id, or at least its first 8 characters')
    .option('--stage <n>', 'only this stage', intOption('--stage', 1, 1_000))
    .option('--status <status>', 'only tasks in this status (completed, failed, ...)')
    .option('--output <file>', 'write to this file instead of stdout (replaced when complete)')
    .action(async (jobId: string, flags: ResultsFlags) => {
      const options = globals();
      if (options.json && !flags.output) {
        throw new InputError('INVALID_OPTION', 'geo results --json needs --output FILE: without it the results themselves are the output');
      }
      await withContext(options, async (ctx) => {
        const db = await ctx.store(3);
        const job = await loadJob(db, jobId);
        const query = resultsQuery(job, flags);
        const started = Date.now();
        const target = flags.output ? await openOutput(flags.output) : undefined;
        const stream = target?.stream ?? process.stdout;
        const spinner = ctx.output.spinner('reading results');
        let lines = 0;
        let interrupted = false;
        try {
          for await (const page of resultLines(db, job, query)) {
            if (!stream.write(page.text)) await once(stream, 'drain');
            lines += page.lines;
            spinner.update(`${lines.toLocaleString('en-US')} results`);
            if (interruption.signal.aborted) {
              interrupted = true;
              break;
            }
          }
          if (target) await (interrupted ? target.discard() : target.commit());
        } catch (err) {
          await target?.discard();
          throw err;
        } finally {
          spinner.stop();
        }
        const summary = { jobId: job.jobId, stages: query.stages, status: query.status, lines, output: flags.output, elapsedMs: Date.now() - started, interrupted };
        if (ctx.output.jsonMode) ctx.output.json(resultsJson(summary));
        else if (flags.output || interrupted) renderResultsSummary(ctx.output, summary);
        if (interrupted) throw new ExitCode(EXIT.incomplete);
      });
    });
}

/** A file written under a temporary name and renamed when complete, so a reader never sees half of it. */
async function openOutput(file: string) {
  const partial = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
  const stream = fs.createWriteStream(partial, { flags: 'wx' });
  try {
    await once(stream, 'open');
  } catch (err) {
    throw new InputError('OUTPUT_UNWRITABLE', `--output ${file} cannot be written: ${(err as Error).message}`);
  }
  const finish = async () => {
    stream.end();
    await once(stream, 'close');
  };
  return {
    stream,
    async commit() {
      await finish();
      try {
        await fs.promises.rename(partial, file);
      } catch (err) {
        await fs.promises.rm(partial, { force: true });
        throw new GeoError('input', 'OUTPUT_UNWRITABLE', `--output ${file}: ${(err as Error).message}`);
      }
    },
    async discard() {
      await finish().catch(() => undefined);
      await fs.promises.rm(partial, { force: true });
    },
  };
}
