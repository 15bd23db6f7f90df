import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerBatches } from './commands/batches.js';
import { registerBench } from './commands/bench.js';
import { registerDatabase } from './commands/database.js';
import { registerQueueStage } from './commands/queue-stage.js';
import { registerRetryPending } from './commands/retry-pending.js';
import { registerSubmit } from './commands/submit.js';
import type { GlobalOptions } from './context.js';

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The command table. Each command lives in its own module under commands/. */
export function buildProgram(): Command {
  const program = new Command('geo')
    .description('fan jobs out into tasks: PostgreSQL plus a queue, in aligned batches, nothing lost')
    .version(packageVersion(), '-V, --version')
    .option('--json', 'print one JSON document on stdout; people-facing output goes to stderr')
    .option('--verbose', 'show stack traces on errors')
    .option('--database-url <url>', 'PostgreSQL connection URL (env DATABASE_URL)')
    .showHelpAfterError('(run geo --help for usage)')
    .exitOverride();
  const globals = () => program.opts<GlobalOptions>();
  registerSubmit(program, globals);
  registerQueueStage(program, globals);
  registerRetryPending(program, globals);
  registerBatches(program, globals);
  registerDatabase(program, globals);
  registerBench(program, globals);
  for (const command of program.commands) command.exitOverride();
  return program;
}
