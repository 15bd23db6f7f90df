import type { Command } from 'commander';
import { registerBatches } from './commands/batches.js';
import { registerBench } from './commands/bench.js';
import { registerCancel } from './commands/cancel.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerDatabase } from './commands/database.js';
import { registerPause } from './commands/pause.js';
import { registerQueueStage } from './commands/queue-stage.js';
import { registerResults } from './commands/results.js';
import { registerRetryFailed } from './commands/retry-failed.js';
import { registerRetryPending } from './commands/retry-pending.js';
import { registerStatus } from './commands/status.js';
import { registerSubmit } from './commands/submit.js';
import { registerTypes } from './commands/types.js';
import { registerWork } from './commands/work.js';
import type { GlobalOptions } from './context.js';
import { GeoCommand } from './help-json.js';
import { loadConfiguredJobTypes } from './job-types.js';
import { screen } from './terminal.js';
import { packageVersion } from './version.js';

/**
 * The command table. Each command lives in its own module under commands/.
 * `json`: --json was given, so --version and --help print JSON documents.
 */
export function buildProgram(options: { json?: boolean } = {}): Command {
  const version = packageVersion();
  const program = new GeoCommand('geo');
  program.jsonOutput = options.json ?? false;
  program
    .description('fan jobs out into tasks: PostgreSQL plus a queue, in aligned batches, nothing lost')
    .version(program.jsonOutput ? JSON.stringify({ version }, null, 2) : version, '-V, --version', 'print the version (under --json: {"version"})')
    .option('--json', 'print one JSON document on stdout; people-facing output goes to stderr')
    .option('--verbose', 'show stack traces on errors')
    .option('--database-url <url>', 'PostgreSQL connection URL (env DATABASE_URL)')
    .option('--wide', 'tables at full width: every column, errors in full (default: fit the terminal)')
    .option('--job-types <modules>', 'job-type modules to load, comma-separated (env GEO_JOB_TYPES)')
    // main prints usage errors like every other failure (under --json too); help goes through the screen.
    .configureOutput({ writeOut: (text) => screen.out(text), writeErr: (text) => screen.err(text), outputError: () => {} })
    .exitOverride();
  const globals = () => program.opts<GlobalOptions>();
  program.hook('preAction', () => loadConfiguredJobTypes(program.opts<{ jobTypes?: string }>().jobTypes));
  registerSubmit(program, globals);
  registerQueueStage(program, globals);
  registerRetryPending(program, globals);
  registerBatches(program, globals);
  registerDatabase(program, globals);
  registerBench(program, globals);
  registerStatus(program, globals);
  registerCancel(program, globals);
  registerPause(program, globals);
  registerRetryFailed(program, globals);
  registerWork(program, globals);
  registerTypes(program, globals);
  registerResults(program, globals);
  registerDashboard(program, globals);
  for (const command of program.commands) command.exitOverride();
  return program;
}
