import { CommanderError } from 'commander';
import { GeoError } from '../errors.js';
import { EXIT, ExitCode, exitCodeFor } from './exit-codes.js';
import { interruption, type StopSignal } from './interrupt.js';
import { buildProgram } from './program.js';
import { outputFailure, screen } from './terminal.js';
import { isHelpOrVersion, jsonRequested, usageError } from './usage.js';
import { dropIrrelevantWarnings } from './warnings.js';

/** Runs geo with `argv` and returns the exit code; the only place errors are printed. */
export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram({ json: jsonRequested({}, argv), argv });
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (caught) {
    if (caught instanceof ExitCode) return caught.code;
    if (caught instanceof CommanderError && isHelpOrVersion(caught)) return EXIT.ok;
    // Loaded here, not up front: the database client is no part of geo --version or --help.
    const { asConnectionLoss } = await import('../store/pool.js');
    const err = caught instanceof CommanderError ? usageError(caught) : (asConnectionLoss(caught) ?? caught);
    const { verbose } = program.opts<{ verbose?: boolean }>();
    const code = err instanceof GeoError ? err.code : 'INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    const jobId = err instanceof GeoError ? err.jobId : undefined;
    if (jsonRequested(program.opts(), argv)) screen.out(`${JSON.stringify({ jobId, error: { code, message } }, null, 2)}\n`);
    screen.err(jobId ? `geo: job ${jobId.slice(0, 12)}: ${message}\n` : `geo: ${message}\n`);
    if (caught instanceof CommanderError) screen.err('(run geo --help for usage)\n');
    else if (verbose && err instanceof Error && err.stack) screen.err(`${err.stack}\n`);
    else if (!(err instanceof GeoError)) screen.err('(run with --verbose for details)\n');
    return exitCodeFor(err);
  }
}

/**
 * Ends geo as killed by `signal`, as a shell expects of a program stopped by
 * Ctrl-C (130) or SIGTERM (143): a script loop around geo stops too, and npm
 * exec reports the same status as a direct start.
 */
function endBySignal(signal: StopSignal): void {
  process.removeAllListeners(signal);
  process.kill(process.pid, signal);
}

function onStopSignal(signal: StopSignal): void {
  const action = interruption.stop(signal);
  const again = signal === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM';
  if (action === 'graceful') {
    screen.signalLine(`geo: stopping after the work in flight (${again} again quits at once)\n`);
    return;
  }
  screen.clear();
  screen.signalLine(`geo: ${interruption.note() ?? 'interrupted'}\n`);
  endBySignal(signal);
}

dropIrrelevantWarnings();
process.on('SIGINT', () => onStopSignal('SIGINT'));
process.on('SIGTERM', () => onStopSignal('SIGTERM'));

const code = await main(process.argv);
const failure = outputFailure();
if (failure) screen.err(`geo: could not write the output: ${failure.message}\n`);
if (interruption.received) endBySignal(interruption.received);
else process.exitCode = failure ? Math.max(code, EXIT.incomplete) : code;
