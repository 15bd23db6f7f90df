import { CommanderError } from 'commander';
import { GeoError } from '../errors.js';
import { asConnectionLoss } from '../store/pool.js';
import { EXIT, ExitCode, exitCodeFor } from './exit-codes.js';
import { interruption } from './interrupt.js';
import { buildProgram } from './program.js';

/** Runs geo with `argv` and returns the exit code; the only place errors are printed. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (caught) {
    if (caught instanceof ExitCode) return caught.code;
    const err = asConnectionLoss(caught) ?? caught;
    // Commander has already printed its own message (or the help text).
    if (err instanceof CommanderError) return exitCodeFor(err);
    const { json, verbose } = program.opts<{ json?: boolean; verbose?: boolean }>();
    const code = err instanceof GeoError ? err.code : 'INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    if (json) process.stdout.write(`${JSON.stringify({ error: { code, message } }, null, 2)}\n`);
    process.stderr.write(`geo: ${message}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    else if (!(err instanceof GeoError)) process.stderr.write('(run with --verbose for details)\n');
    return exitCodeFor(err);
  }
}

// The first Ctrl-C lets batches in flight finish (the run stays resumable);
// a second one leaves at once, which is safe too: it is a crash the protocol recovers from.
process.on('SIGINT', () => {
  if (interruption.signal.aborted) process.exit(130);
  interruption.abort();
});

process.exitCode = await main(process.argv);
