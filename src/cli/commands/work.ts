import type { Command } from 'commander';
import { workerName } from '../../core/work/options.js';
import { runWork } from '../../core/work/runtime.js';
import { createConsumer } from '../../transports/index.js';
import { type GlobalOptions, withContext } from '../context.js';
import { interruption } from '../interrupt.js';
import { durationFlag, durationOption, intOption } from '../options.js';
import { renderWork, workJson, workProgress } from '../render/work.js';

interface WorkFlags {
  transport?: string;
  concurrency: number;
  untilIdle?: boolean;
  idle: number;
  maxTasks?: number;
  advanceOnly?: boolean;
  lease?: number;
  grace: number;
  messageEncoding?: string;
}

export function registerWork(program: Command, globals: () => GlobalOptions): void {
  program
    .command('work')
    .description('run tasks: receive, claim, run the handler, complete; advance finished stages')
    .option('--transport <name>', 'local, servicebus or storage-queue (env GEO_TRANSPORT)')
    .option('--concurrency <n>', 'handlers running at once', intOption('--concurrency', 1, 256), 8)
    .option('--until-idle', 'exit 0 once no task arrived for --idle and no stage waits to advance')
    .addOption(durationFlag('--idle <duration>', 'how long without tasks counts as idle (--until-idle)', 3))
    .option('--max-tasks <n>', 'stop after claiming this many tasks', intOption('--max-tasks', 1, 1_000_000_000))
    .option('--advance-only', 'only queue next stages and complete jobs; run no tasks')
    .option('--lease <duration>', 'task lease, renewed while a handler runs (env GEO_LEASE_SECONDS)', durationOption('--lease'))
    .addOption(durationFlag('--grace <duration>', 'on SIGINT/SIGTERM, how long tasks in flight may finish before they are given back', 30))
    .option('--message-encoding <encoding>', 'storage-queue: base64 (Azure Functions default) or text')
    .action(async (flags: WorkFlags) => {
      await withContext({ ...globals(), transport: flags.transport, messageEncoding: flags.messageEncoding }, async (ctx) => {
        const leaseSeconds = Math.max(1, Math.round(flags.lease ?? ctx.config.leaseSeconds));
        const worker = workerName();
        const db = await ctx.store(flags.concurrency + 8);
        const consumer = flags.advanceOnly
          ? undefined
          : await createConsumer(ctx.config.transport ?? 'local', ctx.config, { worker, leaseSeconds, db });
        // Handlers cannot be stopped from outside: a second signal quits at once (leases lapse, messages come back).
        interruption.onQuit(() => 'tasks in flight were not given back; their leases and locks lapse and other workers take them over');
        const signal = interruption.graceful();
        const progress = ctx.output.progress(workProgress(undefined, flags.advanceOnly ?? false));
        let summary;
        try {
          summary = await runWork({
            db,
            consumer,
            transportFor: ctx.transportFor,
            options: {
              worker,
              concurrency: flags.concurrency,
              leaseSeconds,
              graceMs: flags.grace * 1000,
              untilIdle: flags.untilIdle ?? false,
              idleMs: flags.idle * 1000,
              maxTasks: flags.maxTasks,
              advanceOnly: flags.advanceOnly ?? false,
              advance: { batchSize: 100, concurrency: 4, leaseSeconds: ctx.config.leaseSeconds },
              signal,
              onProgress: (counts) => progress.update(workProgress(counts, false)),
              onNotice: (message) => ctx.output.notice(`geo: ${message}`),
            },
          });
        } finally {
          progress.stop();
          await consumer?.close();
        }
        // Failed tasks are their job's outcome (geo status), not the worker's: the exit code stays 0.
        // A stop by signal ends geo as killed by it (130, 143), in main.
        if (ctx.output.jsonMode) ctx.output.json(workJson(summary));
        else renderWork(ctx.output, summary);
      });
    });
}
