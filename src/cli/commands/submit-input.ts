import { inputWorkers } from '../../config/job-types.js';
import { messageLimitFor } from '../../core/input/limits.js';
import { type InputFormat, openInput } from '../../core/input/source.js';
import { type InputSubmitResult, submitInput } from '../../core/input/submit-input.js';
import type { StageItems } from '../../core/job-types/stage-inputs.js';
import type { PreparedJob } from '../../core/prepare-job.js';
import type { DispatchProgress } from '../../core/protocol/dispatch-stage.js';
import { submitJob } from '../../core/submit.js';
import type { Pool } from '../../store/pool.js';
import type { TransportProducer } from '../../transports/transport.js';
import type { CommandContext } from '../context.js';
import { EXIT, ExitCode, finishRun } from '../exit-codes.js';
import { formatCount, plural } from '../format.js';
import { interruption } from '../interrupt.js';
import type { Progress } from '../progress.js';
import { inputJson, RejectedLines, renderInputSummary } from '../render/input.js';
import { renderStageRun, stageProgress, stageQuitNote, stageRunJson } from '../render/stage-run.js';
import { dispatchTracing } from '../tracing.js';
import { type DispatchFlags, ofJob, openRunTransport, pauseAt } from './stage-options.js';

export interface InputFlags {
  input: string;
  format?: InputFormat;
  strict?: boolean;
  errorsFile?: string;
}

/**
 * `geo submit <type> --input FILE|-`: the input is read and checked before
 * anything is written, so a refused file writes nothing. The database and the
 * queue are opened meanwhile (connecting writes nothing); their errors count
 * only once the input is accepted, so a bad file is exit 2 even with the
 * database down. Exit 1 when lines were rejected (the rest was submitted).
 */
export async function runInputSubmit(ctx: CommandContext, flags: DispatchFlags & InputFlags, job: PreparedJob): Promise<void> {
  const limit = messageLimitFor(ctx.transportName, { storageEncoding: ctx.config.storage.messageEncoding });
  const label = flags.input === '-' ? 'stdin' : flags.input;
  const rejected = new RejectedLines(ctx.output, { label, errorsFile: flags.errorsFile, keep: ctx.output.jsonMode });
  await rejected.open();
  const signal = interruption.graceful();
  let writing: DispatchProgress | undefined;
  let checking = true;
  interruption.onQuit(() => (checking ? 'stopped while checking the input; nothing was submitted' : stageQuitNote(writing)));
  const progress = await ctx.output.progress({ done: 0, unit: 'lines', label: `checking ${label}` });
  const connecting = connect(ctx, flags);
  connecting.catch(() => undefined);
  let result: InputSubmitResult;
  try {
    result = await submitInput({
      job,
      source: await openInput({ given: flags.input, format: flags.format, stdin: process.stdin, cwd: process.cwd() }),
      limit,
      strict: flags.strict ?? false,
      onRejected: (line) => rejected.add(line),
      onScanProgress: (p) =>
        progress.update({ done: p.lines, unit: 'lines', label: `checking ${label}`, note: p.rejected > 0 ? `${formatCount(p.rejected)} rejected` : undefined }),
      signal,
      workers: inputWorkers(process.env),
      submit: async (prepared, items) => {
        checking = false;
        return dispatchItems(ctx, flags, await connecting, prepared, items, signal, progress, (p) => (writing = p));
      },
    });
  } finally {
    progress.stop();
    await rejected.close();
    // What the connect opens is the context's to close, once it exists: a pool opened after the
    // context closed would keep the process alive for its idle timeout (10 s after a refused file).
    await connecting.catch(() => undefined);
  }
  render(ctx, result, rejected);
  if (result.refusal) throw new ExitCode(EXIT.input);
  const run = result.run!;
  finishRun({ stoppedBy: run.stoppedBy, unfinished: run.pendingQueue + run.failed + run.notWritten + result.scan.rejected });
}

async function connect(ctx: CommandContext, flags: DispatchFlags): Promise<{ db: Pool; transport: TransportProducer }> {
  const name = ctx.transportName;
  const transport = await openRunTransport(name, () => ctx.transport(name));
  return { transport, db: await ctx.store(flags.concurrency + 2) };
}

async function dispatchItems(
  ctx: CommandContext,
  flags: DispatchFlags,
  { db, transport }: { db: Pool; transport: TransportProducer },
  job: PreparedJob,
  items: StageItems,
  signal: AbortSignal,
  progress: Progress,
  onProgress: (p: DispatchProgress) => void,
) {
  const session = await ctx.session('geo submit');
  const tracing = await dispatchTracing(ctx, 'submit');
  const run = submitJob({
    db,
    transport,
    job,
    destination: ctx.destination(transport.name),
    items,
    options: {
      batchSize: flags.batchSize,
      concurrency: flags.concurrency,
      leaseSeconds: ctx.config.leaseSeconds,
      session: session.id,
      onProgress: (p) => {
        onProgress(p);
        progress.update({ ...stageProgress(p), label: 'writing' });
      },
      signal,
      onNotice: (message) => ctx.output.notice(`geo: ${message}`),
      onPhase: pauseAt(ctx),
      events: tracing.events,
    },
  });
  run.then(
    (result) => tracing.end(result),
    (err: unknown) => tracing.end(undefined, err),
  );
  return run.catch((err: unknown) => {
    throw ofJob(err, job.jobId);
  });
}

function render(ctx: CommandContext, result: InputSubmitResult, rejected: RejectedLines): void {
  const { output } = ctx;
  const input = { input: inputJson(result.scan), rejected: result.scan.rejected, errors: rejected.kept };
  if (result.refusal) {
    if (output.jsonMode) output.json({ error: { code: result.refusal.code, message: result.refusal.message }, jobId: result.jobId, ...input });
    output.notice(`geo: ${result.refusal.message}`);
    return;
  }
  if (output.jsonMode) {
    output.json({ ...stageRunJson(result.run!), ...input });
    return;
  }
  renderInputSummary(output, result.scan);
  renderStageRun(output, 'submit', result.run!);
  if (result.scan.rejected > 0) output.line(`  ${plural(result.scan.rejected, 'input line')} rejected and not submitted (see stderr)`);
}
