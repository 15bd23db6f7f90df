import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { loadJob } from '../../core/jobs.js';
import { resultLines, resultsQuery } from '../../core/results.js';
import { InputError } from '../../errors.js';
import { type GlobalOptions, withContext } from '../context.js';
import { EXIT, ExitCode } from '../exit-codes.js';
import { plural } from '../format.js';
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
        const query = await resultsQuery(job, flags);
        const started = Date.now();
        const target = flags.output ? await openOutput(flags.output) : undefined;
        const signal = interruption.graceful();
        let lines = 0;
        interruption.onQuit(() => `stopped at once after ${plural(lines, 'result')}${flags.output ? `; ${flags.output} was not written` : ''}`);
        // NDJSON on stdout is the output itself: no progress line next to it on the same terminal.
        const progress = target ? await ctx.output.progress({ done: 0, unit: 'results' }) : undefined;
        let outcome: 'done' | 'interrupted' | 'reader gone' = 'done';
        try {
          for await (const page of resultLines(db, job, query)) {
            if (!(await writePage(target?.stream ?? process.stdout, page.text))) {
              outcome = 'reader gone';
              break;
            }
            lines += page.lines;
            progress?.update({ done: lines, unit: 'results' });
            if (signal.aborted) {
              outcome = 'interrupted';
              break;
            }
          }
          if (target) await (outcome === 'done' ? target.commit() : target.discard());
        } catch (err) {
          await target?.discard();
          throw err;
        } finally {
          progress?.stop();
        }
        const interrupted = outcome === 'interrupted';
        const summary = {
          jobId: job.jobId,
          stages: query.stages,
          status: query.status,
          lines,
          output: flags.output,
          elapsedMs: Date.now() - started,
          interrupted,
        };
        if (ctx.output.jsonMode) ctx.output.json(resultsJson(summary));
        else if (flags.output || interrupted) renderResultsSummary(ctx.output, summary);
        if (interrupted) throw new ExitCode(EXIT.incomplete);
      });
    });
}

/**
 * Writes one page, waiting for the stream to drain (a slow reader slows geo
 * instead of filling memory). False when the reader went away (EPIPE on a
 * closed pipe: `geo results ... | head`), which ends the output quietly.
 */
async function writePage(stream: NodeJS.WritableStream & { destroyed?: boolean }, text: string): Promise<boolean> {
  if (stream.destroyed) return false;
  try {
    if (!stream.write(text)) await once(stream, 'drain');
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return false;
    throw err;
  }
}

/** A file written under a temporary name and renamed when complete, so a reader never sees half of it. */
async function openOutput(file: string) {
  // Checked before anything is read: the rename at the end cannot replace a folder.
  const existing = await fs.promises.stat(file).catch(() => undefined);
  if (existing?.isDirectory()) throw new InputError('OUTPUT_UNWRITABLE', `--output ${file} is a folder: name a file to write the results to`);
  const partial = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
  const stream = fs.createWriteStream(partial, { flags: 'wx' });
  try {
    await once(stream, 'open');
  } catch (err) {
    throw new InputError('OUTPUT_UNWRITABLE', `--output ${file} cannot be written: ${(err as Error).message}`);
  }
  let closed: Promise<void> | undefined;
  // Once only: a discard after a failed commit must not wait for a second 'close' that never comes.
  const finish = () =>
    (closed ??= (async () => {
      stream.end();
      await once(stream, 'close');
    })());
  return {
    stream,
    async commit() {
      await finish();
      try {
        await fs.promises.rename(partial, file);
      } catch (err) {
        await fs.promises.rm(partial, { force: true });
        throw new InputError('OUTPUT_UNWRITABLE', `--output ${file}: ${(err as Error).message}`);
      }
    },
    async discard() {
      await finish().catch(() => undefined);
      await fs.promises.rm(partial, { force: true });
    },
  };
}
