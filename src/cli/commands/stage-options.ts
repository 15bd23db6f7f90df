import type { Command } from 'commander';
import type { DispatchProgress, PhaseObserver } from '../../core/protocol/dispatch-stage.js';
import { MAX_BATCH_SIZE } from '../../core/protocol/plan.js';
import type { StageRunOptions } from '../../core/protocol/queue-stage.js';
import { GeoError, InputError } from '../../errors.js';
import { asConnectionLoss } from '../../store/pool.js';
import { listNames, type TransportName, transportHelp, transportKind, transportOptions } from '../../transports/index.js';
import type { CommandContext } from '../context.js';
import { finishRun } from '../exit-codes.js';
import { interruption } from '../interrupt.js';
import { addTransportOptions, intOption } from '../options.js';
import { renderStageRun, type StageCommand, type StageRun, stageProgress, stageQuitNote, stageRunJson } from '../render/stage-run.js';
import { dispatchTracing } from '../tracing.js';

export interface DispatchFlags {
  batchSize: number;
  concurrency: number;
  transport?: string;
  createQueue?: boolean;
  messageEncoding?: string;
}

/** The configuration flags of a dispatching command, as global options for the context. */
export function contextFlags(flags: DispatchFlags) {
  return { transport: flags.transport, createQueue: flags.createQueue, messageEncoding: flags.messageEncoding };
}

/** Options shared by the commands that dispatch a stage. */
export function addDispatchOptions(command: Command): Command {
  command
    .option('--batch-size <n>', `tasks per batch, at most ${MAX_BATCH_SIZE}`, intOption('--batch-size', 1, MAX_BATCH_SIZE), MAX_BATCH_SIZE)
    .option('--concurrency <n>', 'groups of up to 10 batches in flight at once', intOption('--concurrency', 1, 64), 4)
    .option('--transport <name>', transportHelp());
  return addTransportOptions(command, 'dispatch');
}

/** Refuses flags that mean nothing for the transport the run uses, before anything is written. */
export function assertFlagsApply(flags: DispatchFlags, transport: TransportName): void {
  const foreign = transportOptions('dispatch').filter((o) => !o.transports.includes(transport) && flags[o.key] !== undefined && flags[o.key] !== false);
  if (foreign.length > 0) {
    const owners = [...new Set(foreign.flatMap((o) => o.transports))];
    throw new InputError(
      'OPTION_NOT_APPLICABLE',
      `${foreign.map((o) => o.flags.split(' ')[0]).join(' and ')}: for the ${listNames(owners)} transport only (this run uses ${transport})`,
    );
  }
}

/**
 * Opens the run's transport. A queue that does not exist is reported by the
 * transport with steps that work from any command; submit and queue-stage
 * take the transport's own options, so they add its way to create the queue.
 */
export async function openRunTransport<T>(transport: TransportName, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    const hint = transportKind(transport).missingQueueHint;
    if (err instanceof GeoError && err.code === 'QUEUE_NOT_FOUND' && hint) {
      throw new InputError(err.code, `${err.message}, ${hint}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Runs a stage dispatch with a progress bar, renders its result and ends
 * with its exit code. The first Ctrl-C lets the batches in flight finish,
 * so the summary and the resume hint are printed.
 */
export async function runDispatch(
  ctx: CommandContext,
  flags: DispatchFlags,
  command: StageCommand,
  jobId: string,
  run: (options: StageRunOptions) => Promise<StageRun>,
): Promise<void> {
  const session = await ctx.session(`geo ${command}`);
  const signal = interruption.graceful();
  let last: DispatchProgress | undefined;
  interruption.onQuit(() => stageQuitNote(last));
  const progress = await ctx.output.progress({ done: 0, unit: 'tasks' });
  const tracing = await dispatchTracing(ctx, command);
  let result: StageRun;
  try {
    result = await run({
      batchSize: flags.batchSize,
      concurrency: flags.concurrency,
      leaseSeconds: ctx.config.leaseSeconds,
      session: session.id,
      onProgress: (p) => {
        last = p;
        progress.update(stageProgress(p));
      },
      signal,
      onNotice: (message) => ctx.output.notice(`geo: ${message}`),
      onPhase: pauseAt(ctx),
      events: tracing.events,
    });
  } catch (err) {
    tracing.end(undefined, err);
    throw ofJob(err, jobId);
  } finally {
    progress.stop();
  }
  tracing.end(result);
  if (ctx.output.jsonMode) ctx.output.json(stageRunJson(result));
  else renderStageRun(ctx.output, command, result);
  finishRun({ stoppedBy: result.stoppedBy, unfinished: result.pendingQueue + result.failed + result.notWritten });
}

/**
 * Names the job in an error that ended its run. Most stops come back in the
 * run's result with the job's counts; this covers the rest, such as a
 * statement outside the batch protocol on a connection the database had just
 * terminated.
 */
export function ofJob(err: unknown, jobId: string): unknown {
  const classified = err instanceof GeoError ? err : asConnectionLoss(err);
  if (!classified) return err;
  classified.jobId ??= jobId;
  return classified;
}

/** The GEO_TEST_PAUSE_AT failpoint: stops at the n-th time the protocol reaches a phase, until killed. */
export function pauseAt(ctx: CommandContext): PhaseObserver | undefined {
  const target = ctx.config.testPauseAt;
  if (!target) return undefined;
  let seen = 0;
  return async (phase, batchIds) => {
    if (phase !== target.phase || ++seen !== target.occurrence) return;
    ctx.output.notice(`geo: paused at ${phase} (${batchIds.join(',')})`);
    // A referenced timer keeps the process alive (and paused) until the test kills it.
    await new Promise<never>(() => setInterval(() => undefined, 60_000));
  };
}
