import { type Command, Option } from 'commander';
import { loadJob } from '../../core/jobs.js';
import { DEFAULT_SEND_POLICY } from '../../core/protocol/send.js';
import { retryPending, workLeft } from '../../core/sweep/retry-pending.js';
import { type GlobalOptions, withContext } from '../context.js';
import { finishRun } from '../exit-codes.js';
import { interruption } from '../interrupt.js';
import { durationFlag, durationOption, intOption } from '../options.js';
import { isQuiet, recoveryProgress, recoveryQuitNote, renderRetryPending, retryPendingJson } from '../render/retry-pending.js';

interface RetryPendingFlags {
  olderThan: number;
  job?: string;
  transport?: string;
  limit: number;
  dryRun?: boolean;
  maxAttempts: number;
  includeFailed?: boolean;
  staleAfter?: number;
  maxTaskRetries?: number;
  concurrency: number;
}

export function registerRetryPending(program: Command, globals: () => GlobalOptions): void {
  program
    .command('retry-pending')
    .description('finish what crashes and outages left: unsent batches, half-written stages, tasks of dead workers, owed messages (cron-safe)')
    .addOption(durationFlag('--older-than <duration>', 'only batches created at least this long ago (90s, 5m, 2h)', 0))
    .option('--job <jobId>', 'only this job')
    .option('--transport <name>', 'only jobs of this transport')
    .option('--limit <n>', 'claim at most this many batches', intOption('--limit', 1, 100_000_000), 1_000_000)
    .option('--dry-run', 'list what would be done; change nothing')
    .option('--max-attempts <n>', 'send attempts before a batch is failed', intOption('--max-attempts', 1, 1_000), 10)
    .option('--include-failed', 'put failed batches back to pending first')
    .option('--concurrency <n>', 'batches in flight at once', intOption('--concurrency', 1, 64), 4)
    // Kept so existing cron lines still run: a lapsed lease or a dead worker's session now decides.
    .addOption(new Option('--stale-after <duration>').argParser(durationOption('--stale-after')).hideHelp())
    .addOption(new Option('--max-task-retries <n>').argParser(intOption('--max-task-retries', 0, 1_000)).hideHelp())
    .action(async (flags: RetryPendingFlags) => {
      await withContext({ ...globals(), transport: flags.transport }, async (ctx) => {
        if (flags.staleAfter !== undefined || flags.maxTaskRetries !== undefined) {
          ctx.output.notice(
            'geo: --stale-after and --max-task-retries are no longer needed and are ignored: a task is delivered again as soon as ' +
              "its worker's lease lapses or its session ends, and its stage's retry policy decides when it fails",
          );
        }
        const db = await ctx.store(flags.concurrency + 2);
        const jobId = flags.job ? (await loadJob(db, flags.job)).jobId : undefined;
        const session = flags.dryRun ? undefined : await ctx.session('retry-pending');
        let last: { claimedBatches: number; requeuedTasks: number } | undefined;
        // A second Ctrl-C quits at once, which the claims make safe: say what was done and when they lapse.
        interruption.onQuit(() => recoveryQuitNote(last));
        const signal = interruption.graceful();
        const progress = await ctx.output.progress(recoveryProgress({ claimedBatches: 0, requeuedTasks: 0 }));
        let result: Awaited<ReturnType<typeof retryPending>>;
        try {
          result = await retryPending({
            db,
            transportFor: ctx.transportFor,
            options: {
              jobId,
              transport: flags.transport ? ctx.config.transport : undefined,
              olderThanSeconds: flags.olderThan,
              limit: flags.limit,
              dryRun: flags.dryRun ?? false,
              maxAttempts: flags.maxAttempts,
              includeFailed: flags.includeFailed ?? false,
              leaseSeconds: ctx.config.leaseSeconds,
              concurrency: flags.concurrency,
              session: session?.id,
              sendPolicy: { ...DEFAULT_SEND_POLICY, maxAttempts: 3 },
              retryBackoff: { baseMs: 10_000, maxMs: 900_000 },
              signal,
              onProgress: (p) => {
                last = p;
                progress.update(recoveryProgress(p));
              },
            },
          });
        } finally {
          progress.stop();
        }
        if (ctx.output.jsonMode) ctx.output.json(retryPendingJson(result, flags.dryRun ?? false));
        // Cron-friendly: a run with nothing to do and nothing left prints nothing unless someone is watching.
        else if (!isQuiet(result) || ctx.output.toTerminal || flags.dryRun) renderRetryPending(ctx.output, result);
        if (flags.dryRun) return;
        const touched = result.claimedBatches + result.resetFailedBatches + result.stages.filter((s) => s.finished).length > 0;
        finishRun({
          stoppedBy: result.stoppedBy,
          // Only jobs whose destination is not configured here, and nothing else done: a configuration problem.
          misconfigured: result.unreachable.length > 0 && !touched,
          unfinished: workLeft(result),
        });
      });
    });
}
