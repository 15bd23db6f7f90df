import type { Command } from 'commander';
import { jobTypeNames } from '../../core/job-types/registry.js';
import { DEFAULT_MAX_PREFETCH, type WorkOptions, type WorkSummary } from '../../core/work/options.js';
import { runWork } from '../../core/work/runtime.js';
import { combineEvents } from '../../observability/combine.js';
import type { Logger } from '../../observability/logging.js';
import { type WorkerMetrics, workerMetrics } from '../../observability/metrics.js';
import { serveMetrics } from '../../observability/metrics-server.js';
import { logWorkStarted, logWorkStopped, workLog } from '../../observability/work-log.js';
import type { Pool } from '../../store/pool.js';
import { createConsumer, destinationOf, transportHelp } from '../../transports/index.js';
import { type CommandContext, type GlobalOptions, withContext } from '../context.js';
import { EXIT, ExitCode } from '../exit-codes.js';
import { interruption } from '../interrupt.js';
import { addLogOptions, commandLogger, commandTracing } from '../observe.js';
import { addTransportOptions, durationFlag, durationOption, intOption } from '../options.js';
import { renderWork, workJson, workProgress } from '../render/work.js';

interface WorkFlags {
  transport?: string;
  concurrency: number;
  prefetch: number;
  untilIdle?: boolean;
  idle: number;
  maxTasks?: number;
  advanceOnly?: boolean;
  lease?: number;
  grace: number;
  messageEncoding?: string;
  metricsPort?: number;
  metricsHost: string;
  logFormat?: string;
  logLevel?: string;
}

export function registerWork(program: Command, globals: () => GlobalOptions): void {
  addLogOptions(addTransportOptions(workCommand(program), 'work')).action(async (flags: WorkFlags) => {
    const context = { ...globals(), transport: flags.transport, messageEncoding: flags.messageEncoding, logFormat: flags.logFormat, logLevel: flags.logLevel };
    await withContext(context, (ctx) => work(ctx, flags));
  });
}

/** The command with its own options; the caller adds the transport and log options. */
function workCommand(program: Command): Command {
  return program
    .command('work')
    .description('run tasks: receive, claim, run the handler, report, acknowledge; advance finished stages; sweep')
    .option('--transport <name>', transportHelp())
    .option('--concurrency <n>', 'handlers running at once (never more)', intOption('--concurrency', 1, 256), 8)
    .option(
      '--prefetch <n>',
      'most claimed tasks held beyond the running handlers; adapts below it (none while handlers take seconds)',
      intOption('--prefetch', 0, 100_000),
      DEFAULT_MAX_PREFETCH,
    )
    .option('--until-idle', 'stop once nothing is left that this worker can run or wait for (exit 1 if other workers still hold tasks)')
    .addOption(durationFlag('--idle <duration>', 'how long without tasks before --until-idle looks whether all is done', 3))
    .option('--max-tasks <n>', 'stop after claiming this many tasks', intOption('--max-tasks', 1, 1_000_000_000))
    .option('--advance-only', 'run no tasks: only advance finished stages and sweep (deliver retries, recover what crashes left)')
    .option('--lease <duration>', 'task lease, renewed while a handler runs (env GEO_LEASE_SECONDS)', durationOption('--lease'))
    .addOption(durationFlag('--grace <duration>', 'on SIGINT/SIGTERM, how long tasks in flight may finish before they are given back', 30))
    .option('--metrics-port <n>', 'serve Prometheus metrics at /metrics on this port (0: any free one)', intOption('--metrics-port', 0, 65_535))
    .option('--metrics-host <address>', 'address the metrics listen on (0.0.0.0: every interface, for a scraper elsewhere)', '127.0.0.1');
}

/** Runs the worker until it stops and prints what it did; exit 1 while other workers still hold tasks. */
async function work(ctx: CommandContext, flags: WorkFlags): Promise<void> {
  const log = commandLogger(ctx, 'geo work');
  const leaseSeconds = Math.max(1, Math.round(flags.lease ?? ctx.config.leaseSeconds));
  const db = await ctx.store(flags.concurrency + 8);
  const { metrics, metricsUrl } = await startMetrics(ctx, flags, db, log);
  const tracing = await commandTracing(ctx, (message) => log.warn('trace_export_failed', message));
  const session = await ctx.session('geo work');
  const transport = ctx.transportName;
  const consumer = flags.advanceOnly
    ? undefined
    : await createConsumer(transport, ctx.config, { worker: session.worker, leaseSeconds, jobTypes: jobTypeNames(), db });
  // Handlers cannot be stopped from outside: a second signal quits at once (the session ends with the process, freeing its claims).
  interruption.onQuit(() => 'tasks in flight were not given back; other workers take them over as soon as this process has exited');
  const signal = interruption.graceful();
  const progress = await ctx.output.progress(workProgress(undefined, flags.advanceOnly ?? false));
  const logged = workLog(log);
  logWorkStarted(log, {
    worker: session.worker,
    transport,
    concurrency: flags.concurrency,
    jobTypes: jobTypeNames(),
    advanceOnly: flags.advanceOnly ?? false,
    metricsUrl,
    traces: tracing && ctx.config.otlp.endpoint,
  });
  let summary: WorkSummary;
  try {
    summary = await runWork({
      db,
      consumer,
      transportFor: metrics ? metrics.observeTransports(ctx.transportFor) : ctx.transportFor,
      options: {
        ...workOptions(flags, { worker: session.worker, session: session.id, transport, leaseSeconds, senderLeaseSeconds: ctx.config.leaseSeconds }),
        destination: destinationOf(transport, ctx.config),
        signal,
        onProgress: (counts) => progress.update(workProgress(counts, false)),
        onNotice: logged.notice,
        events: combineEvents(metrics?.events, logged.events, tracing && { startSpan: tracing.startSpan }),
      },
    });
  } finally {
    progress.stop();
    await consumer?.close();
  }
  logWorkStopped(log, summary);
  if (ctx.output.jsonMode) ctx.output.json(workJson(summary));
  else renderWork(ctx.output, summary);
  // Failed tasks are their job's outcome (geo status), not the worker's. A stop by signal ends
  // geo as killed by it (130, 143), in main. Tasks other workers still hold, or whose messages did not
  // come, mean the work is not done.
  if (summary.heldByOthers.length + summary.jobsNotServed.length + summary.unreceived.length > 0) throw new ExitCode(EXIT.incomplete);
}

/** With --metrics-port, worker metrics served over HTTP until the command ends; without it, none. */
async function startMetrics(ctx: CommandContext, flags: WorkFlags, db: Pool, log: Logger): Promise<{ metrics?: WorkerMetrics; metricsUrl?: string }> {
  if (flags.metricsPort === undefined) return {};
  const metrics = workerMetrics({ db, jobTypes: jobTypeNames() });
  const server = await serveMetrics({
    registry: metrics.registry,
    host: flags.metricsHost,
    port: flags.metricsPort,
    redact: ctx.redact,
    onError: (message) => log.warn('metrics_scrape_failed', message),
  });
  ctx.defer(() => server.close());
  return { metrics, metricsUrl: server.url };
}

/** The worker's settings from its flags and its session; the observers are the caller's. */
function workOptions(
  flags: WorkFlags,
  run: { worker: string; session: number; transport: string; leaseSeconds: number; senderLeaseSeconds: number },
): Omit<WorkOptions, 'signal' | 'onProgress' | 'onNotice' | 'events'> {
  return {
    worker: run.worker,
    session: run.session,
    transport: run.transport,
    concurrency: flags.concurrency,
    maxPrefetch: flags.prefetch,
    leaseSeconds: run.leaseSeconds,
    graceMs: flags.grace * 1000,
    untilIdle: flags.untilIdle ?? false,
    idleMs: flags.idle * 1000,
    maxTasks: flags.maxTasks,
    advanceOnly: flags.advanceOnly ?? false,
    advance: { batchSize: 100, concurrency: 4, leaseSeconds: run.senderLeaseSeconds },
  };
}
