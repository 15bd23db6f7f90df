import type { Command } from 'commander';
import { PRUNABLE_STATUSES, type PrunableStatus, pruneJobs } from '../../core/prune.js';
import { InputError } from '../../errors.js';
import { type GlobalOptions, withContext } from '../context.js';
import { interruption } from '../interrupt.js';
import { durationOption, intOption } from '../options.js';
import { pruneJson, renderPrune } from '../render/prune.js';

interface PruneFlags {
  finishedBefore: Date;
  status?: PrunableStatus[];
  dryRun?: boolean;
  archiveDir?: string;
  chunkBatches?: number;
}

export function registerPrune(program: Command, globals: () => GlobalOptions): void {
  program
    .command('prune')
    .description('delete finished jobs (never a running one) in short transactions; safe from cron and beside geo work')
    .requiredOption('--finished-before <age|date>', 'jobs that finished longer ago than this (30d, 12h) or before this date (2026-01-31)', finishedBefore)
    .option('--status <status>', `only jobs that ended so (${PRUNABLE_STATUSES.join(', ')}; repeatable; default all three)`, collectStatus)
    .option('--dry-run', 'list what would be deleted, delete nothing')
    .option('--archive-dir <dir>', 'archive each job to <dir>/<jobId>.ndjson.gz (geo archive) before deleting it')
    .option('--chunk-batches <n>', 'batches (with their tasks) deleted per transaction', intOption('--chunk-batches', 1, 1_000))
    .action(async (flags: PruneFlags) => {
      await withContext(globals(), async (ctx) => {
        const db = await ctx.store(2);
        const signal = interruption.graceful();
        const progress = await ctx.output.progress({ done: 0, unit: 'tasks deleted' });
        let result: Awaited<ReturnType<typeof pruneJobs>>;
        try {
          result = await pruneJobs({
            db,
            options: {
              statuses: flags.status ?? PRUNABLE_STATUSES,
              cutoff: flags.finishedBefore,
              dryRun: flags.dryRun ?? false,
              archiveDir: flags.archiveDir,
              chunkBatches: flags.chunkBatches,
            },
            signal,
            onProgress: (p) =>
              progress.update({
                done: p.tasksDeleted,
                total: p.tasksFound,
                unit: 'tasks deleted',
                label: p.phase === 'archiving' ? `archiving ${p.jobId?.slice(0, 12)}` : undefined,
                note: `${p.jobsDone} jobs done`,
              }),
          });
        } finally {
          progress.stop();
        }
        if (ctx.output.jsonMode) ctx.output.json(pruneJson(result));
        else renderPrune(ctx.output, result);
      });
    });
}

const DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** An age (30d: finished more than 30 days ago) or a date; the cutoff as an instant. */
function finishedBefore(value: string): Date {
  if (DATE.test(value.trim())) {
    const date = new Date(value.trim());
    if (!Number.isNaN(date.getTime())) return date;
  }
  try {
    return new Date(Date.now() - durationOption('--finished-before')(value) * 1000);
  } catch {
    throw new InputError('INVALID_OPTION', `--finished-before takes an age like 30d, 12h or 90m, or a date like 2026-01-31 (got "${value}")`);
  }
}

function collectStatus(value: string, previous: PrunableStatus[] = []): PrunableStatus[] {
  if (!(PRUNABLE_STATUSES as readonly string[]).includes(value)) {
    throw new InputError('INVALID_OPTION', `--status must be one of ${PRUNABLE_STATUSES.join(', ')} (got "${value}"); a running job is never pruned`);
  }
  return previous.includes(value as PrunableStatus) ? previous : [...previous, value as PrunableStatus];
}
