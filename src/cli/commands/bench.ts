import os from 'node:os';
import type { Command } from 'commander';
import { runEndToEnd } from '../../bench/end-to-end.js';
import { openBenchEnvironment } from '../../bench/environment.js';
import { type BenchResult, runBench } from '../../bench/run.js';
import { MAX_TASKS } from '../../core/job-types/hello-world.js';
import { MAX_BATCH_SIZE } from '../../core/protocol/plan.js';
import { InputError } from '../../errors.js';
import { TRANSPORT_NAMES, type TransportName, transportKinds } from '../../transports/index.js';
import { type CommandContext, type GlobalOptions, withContext } from '../context.js';
import { finishRun } from '../exit-codes.js';
import { interruption } from '../interrupt.js';
import { intOption } from '../options.js';
import { benchJson, benchProgress, endToEndJson, endToEndProgress, type MachineInfo, renderBench, renderEndToEnd } from '../render/bench.js';

/**
 * End to end runs on a transport without a queue of its own: its tasks are
 * its messages, so a worker in this process reads them from the bench
 * schema with nothing else to set up or empty.
 */
const END_TO_END_PATH = transportKinds().find((kind) => !kind.queue)!.name;

interface BenchFlags {
  path: TransportName[] | 'all';
  n: number;
  individualN: number;
  runs: number;
  dbLatency: number;
  queueLatency: number;
  concurrency: number;
  batchSize: number;
  queue?: string;
  endToEnd?: boolean;
  workConcurrency: number;
}

export function registerBench(program: Command, globals: () => GlobalOptions): void {
  program
    .command('bench')
    .description('measure per-task INSERT + send against aligned batches on identical work, per transport')
    .option('--path <path>', `${TRANSPORT_NAMES.join(', ')}, several joined by commas, or all (skips the unconfigured)`, parsePaths, 'all')
    .option('--n <count>', 'tasks per aligned run', taskCount('--n'), 10_000)
    .option('--individual-n <count>', 'tasks per individual run at most (slow by design; rates are compared)', taskCount('--individual-n'), 1_000)
    .option('--runs <k>', 'runs of each mode on each path; the median run is reported', intOption('--runs', 1, 100), 1)
    .option('--db-latency <ms>', 'round-trip time to add in front of a local PostgreSQL', milliseconds('--db-latency'), 0)
    .option('--queue-latency <ms>', 'round-trip time to add in front of a local broker', milliseconds('--queue-latency'), 0)
    .option('--concurrency <n>', 'aligned: groups of up to 10 batches in flight (as geo submit)', intOption('--concurrency', 1, 64), 4)
    .option('--batch-size <n>', `aligned: tasks per batch, at most ${MAX_BATCH_SIZE}`, intOption('--batch-size', 1, MAX_BATCH_SIZE), MAX_BATCH_SIZE)
    .option('--end-to-end', `instead: submit hello_world --n N, then one geo work runtime runs and advances both stages (${END_TO_END_PATH} path)`)
    .option('--work-concurrency <n>', 'end to end: handlers at once in the worker', intOption('--work-concurrency', 1, 256), 16)
    .option('--queue <name>', 'the bench queue (default: the configured task queue + "-bench"); emptied afterwards')
    .action(async (flags: BenchFlags) => {
      await withContext(globals(), async (ctx) => {
        const machine = machineInfo();
        if (flags.endToEnd) {
          if (flags.path !== 'all' && flags.path.some((p) => p !== END_TO_END_PATH)) {
            throw new InputError(
              'OPTION_NOT_APPLICABLE',
              `--end-to-end measures the ${END_TO_END_PATH} path only (drop --path, or use --path ${END_TO_END_PATH})`,
            );
          }
          return benchEndToEnd(ctx, flags, machine);
        }
        const env = await openBenchEnvironment({
          config: ctx.config,
          paths: flags.path === 'all' ? [...TRANSPORT_NAMES] : flags.path,
          skipUnconfigured: flags.path === 'all',
          dbLatencyMs: flags.dbLatency,
          queueLatencyMs: flags.queueLatency,
          queue: flags.queue,
          poolSize: flags.concurrency + 2,
          onNotice: (message) => ctx.output.notice(message),
        });
        const signal = interruption.graceful();
        interruption.onQuit(() => `stopped at once; the next geo bench removes this run's schema ${env.schema} and empties its queues`);
        const progress = await ctx.output.progress({ done: 0, unit: 'tasks', label: 'starting' });
        let result: BenchResult | undefined;
        let cleanup: { schemaDropped: boolean };
        try {
          result = await runBench({
            db: env.db,
            paths: env.paths,
            settings: {
              n: flags.n,
              individualN: flags.individualN,
              runs: flags.runs,
              concurrency: flags.concurrency,
              batchSize: flags.batchSize,
              leaseSeconds: ctx.config.leaseSeconds,
            },
            nonce: env.nonce,
            signal,
            onProgress: (p) => progress.update(benchProgress(p)),
          });
        } finally {
          progress.stop();
          // A failed run's own error matters more than a failed clean-up after it.
          const closing = env.close();
          cleanup = result ? await closing : await closing.catch(() => ({ schemaDropped: false }));
        }
        const doc = benchJson(result, {
          machine,
          latency: { dbMs: flags.dbLatency, queueMs: flags.queueLatency },
          cleanup: { schema: env.schema, ...cleanup },
        });
        if (ctx.output.jsonMode) ctx.output.json(doc);
        else renderBench(ctx.output, doc);
        finishRun({ unfinished: result.failed });
      });
    });
}

const taskCount = (name: string) => intOption(name, 1, MAX_TASKS);
const milliseconds = (name: string) => intOption(name, 0, 10_000);

function parsePaths(value: string): TransportName[] | 'all' {
  if (value.trim() === 'all') return 'all';
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(TRANSPORT_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw new InputError('INVALID_OPTION', `--path takes ${TRANSPORT_NAMES.join(', ')} (several joined by commas) or all (got "${value}")`);
  }
  return [...new Set(names)] as TransportName[];
}

/** Which machine the figures come from: they mean little without it. */
function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()} ${os.release()}`,
    node: process.version,
    loadAverage: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

interface EndToEndFlags {
  n: number;
  runs: number;
  workConcurrency: number;
  batchSize: number;
}

/** `geo bench --end-to-end`: submit, work and advance hello_world on END_TO_END_PATH, in the bench schema. */
async function benchEndToEnd(ctx: CommandContext, flags: EndToEndFlags, machine: MachineInfo): Promise<void> {
  const env = await openBenchEnvironment({
    config: ctx.config,
    paths: [END_TO_END_PATH],
    skipUnconfigured: false,
    dbLatencyMs: 0,
    queueLatencyMs: 0,
    poolSize: flags.workConcurrency + 8,
    onNotice: (message) => ctx.output.notice(message),
  });
  const signal = interruption.graceful();
  const total = 2 * flags.n;
  const progress = await ctx.output.progress(endToEndProgress(1, flags.runs, 0, total));
  let result: Awaited<ReturnType<typeof runEndToEnd>> | undefined;
  let cleanup: { schemaDropped: boolean };
  try {
    result = await runEndToEnd({
      db: env.db,
      config: ctx.config,
      transport: env.paths[0]!.transport!,
      settings: { n: flags.n, runs: flags.runs, concurrency: flags.workConcurrency, batchSize: flags.batchSize, leaseSeconds: ctx.config.leaseSeconds },
      nonce: env.nonce,
      signal,
      onProgress: (run, completed) => progress.update(endToEndProgress(run, flags.runs, completed, total)),
    });
  } finally {
    progress.stop();
    const closing = env.close();
    cleanup = result ? await closing : await closing.catch(() => ({ schemaDropped: false }));
  }
  const doc = endToEndJson(result, { machine, cleanup: { schema: env.schema, ...cleanup } });
  if (ctx.output.jsonMode) ctx.output.json(doc);
  else renderEndToEnd(ctx.output, doc);
}
