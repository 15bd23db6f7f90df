import type { Command } from 'commander';
import { MAX_BATCH_SIZE } from '../../core/batching.js';
import type { PhaseObserver } from '../../core/dispatch.js';
import type { StageRunOptions } from '../../core/stage.js';
import type { StageRunResult } from '../../core/stage.js';
import { CommandContext } from '../context.js';
import { EXIT, ExitCode } from '../exit-codes.js';
import { interruption } from '../interrupt.js';
import { intOption } from '../options.js';
import { progressText, renderStageRun, stageRunJson } from '../render/stage-run.js';

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
  return command
    .option('--batch-size <n>', `tasks per batch, at most ${MAX_BATCH_SIZE}`, intOption('--batch-size', 1, MAX_BATCH_SIZE), MAX_BATCH_SIZE)
    .option('--concurrency <n>', 'groups of up to 10 batches in flight at once', intOption('--concurrency', 1, 64), 4)
    .option('--transport <name>', 'local, servicebus or storage-queue (env GEO_TRANSPORT)')
    .option('--create-queue', 'storage-queue: create the queue when it does not exist')
    .option('--message-encoding <encoding>', 'storage-queue: base64 (Azure Functions default) or text');
}

/**
 * Runs a stage dispatch with a progress spinner and renders its result;
 * throws ExitCode(1 or 3) when not everything was queued.
 */
export async function runDispatch(
  ctx: CommandContext,
  flags: DispatchFlags,
  run: (options: StageRunOptions) => Promise<StageRunResult & { jobCreated?: boolean }>,
): Promise<void> {
  const spinner = ctx.output.spinner('starting');
  let result;
  try {
    result = await run({
      batchSize: flags.batchSize,
      concurrency: flags.concurrency,
      leaseSeconds: ctx.config.leaseSeconds,
      onProgress: (p) => spinner.update(progressText(p)),
      signal: interruption.signal,
      onNotice: (message) => ctx.output.notice(`geo: ${message}`),
      onPhase: pauseAt(ctx),
    });
  } finally {
    spinner.stop();
  }
  if (ctx.output.jsonMode) ctx.output.json(stageRunJson(result));
  else renderStageRun(ctx.output, result);
  if (result.stoppedBy?.kind === 'dependency') throw new ExitCode(EXIT.dependency);
  if (result.pendingQueue > 0 || result.failed > 0 || result.notWritten > 0) throw new ExitCode(EXIT.incomplete);
}

/** The GEO_TEST_PAUSE_AT failpoint: stops at the n-th time the protocol reaches a phase, until killed. */
function pauseAt(ctx: CommandContext): PhaseObserver | undefined {
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
