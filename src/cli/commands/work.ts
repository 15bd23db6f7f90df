import type { Command } from 'commander';
import { workerName } from '../../core/work/options.js';
import { runWork } from '../../core/work/runtime.js';
import { createConsumer } from '../../transports/index.js';
import { type GlobalOptions, withContext } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { interruption, stopRequest } from '../interrupt.js';
import { durationOption, intOption } from '../options.js';
import { progressText, renderWork, workJson } from '../render/work.js';

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

/** Exit codes of a worker stopped by a signal, as a shell reports a program it killed. */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

export function registerWork(program: Command, globals: () => GlobalOptions): void {
  program
    .command('work')
    .description('run tasks: receive, claim, run the handler, complete; advance finished stages')
    .option('--transport <name>', 'local, servicebus or storage-queue (env GEO_TRANSPORT)')
    .option('--concurrency <n>', 'handlers running at once', intOption('--concurrency', 1, 256), 8)
    .option('--until-idle', 'exit 0 once no task arrived for --idle and no stage waits to advance')
    .option('--idle <duration>', 'how long without tasks counts as idle (--until-idle)', durationOption('--idle'), 3)
    .option('--max-tasks <n>', 'stop after claiming this many tasks', intOption('--max-tasks', 1, 1_000_000_000))
    .option('--advance-only', 'only queue next stages and complete jobs; run no tasks')
    .option('--lease <duration>', 'task lease, renewed while a handler runs (env GEO_LEASE_SECONDS)', durationOption('--lease'))
    .option('--grace <duration>', 'on SIGINT/SIGTERM, how long tasks in flight may finish before they are given back', durationOption('--grace'), 30)
    .option('--message-encoding <encoding>', 'storage-queue: base64 (Azure Functions default) or text')
    .action(async (flags: WorkFlags) => {
      await withContext({ ...globals(), transport: flags.transport, messageEncoding: flags.messageEncoding }, async (ctx) => {
        const leaseSeconds = Math.max(1, Math.round(flags.lease ?? ctx.config.leaseSeconds));
        const worker = workerName();
        const db = await ctx.store(flags.concurrency + 8);
        const consumer = flags.advanceOnly
          ? undefined
          : await createConsumer(ctx.config.transport ?? 'local', ctx.config, { worker, leaseSeconds, db });
        const spinner = ctx.output.spinner(flags.advanceOnly ? 'advancing stages' : `working (${consumer?.target})`);
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
              signal: interruption.signal,
              onProgress: (counts) => spinner.update(progressText(counts)),
              onNotice: (message) => ctx.output.notice(`geo: ${message}`),
            },
          });
        } finally {
          spinner.stop();
          await consumer?.close();
        }
        if (ctx.output.jsonMode) ctx.output.json(workJson(summary));
        else renderWork(ctx.output, summary);
        if (summary.stoppedBy === 'signal' && stopRequest.signal) throw new ExitCode(SIGNAL_EXIT[stopRequest.signal]);
      });
    });
}
