import type { Command } from 'commander';
import type { GlobalOptions } from './context.js';
import { GeoCommand } from './help-json.js';
import { screen } from './terminal.js';
import { packageVersion } from './version.js';

type Register = (program: Command, globals: () => GlobalOptions) => void;

/**
 * The command table, in the order help lists it. Each command lives in its
 * own module under commands/, imported only when it is the one to run (or
 * for help and for a name geo does not know, which need them all): a
 * command's module and what it imports (the database client, zod, the
 * terminal libraries, the dashboard, a transport's SDK) cost every other
 * command start-up time, and `geo --version` loads none of them.
 * `readsRecords`: the command only reads and changes what the database
 * records (stage names included), so it loads no job-type module: those
 * and zod, which they use, are most of a short command's start.
 */
const COMMANDS: Array<{ names: string[]; load: () => Promise<Register>; readsRecords?: true }> = [
  { names: ['submit'], load: async () => (await import('./commands/submit.js')).registerSubmit },
  { names: ['queue-stage'], load: async () => (await import('./commands/queue-stage.js')).registerQueueStage },
  { names: ['retry-pending'], load: async () => (await import('./commands/retry-pending.js')).registerRetryPending },
  { names: ['batches'], load: async () => (await import('./commands/batches.js')).registerBatches, readsRecords: true },
  { names: ['migrate', 'db'], load: async () => (await import('./commands/database.js')).registerDatabase, readsRecords: true },
  { names: ['bench'], load: async () => (await import('./commands/bench.js')).registerBench },
  { names: ['jobs'], load: async () => (await import('./commands/jobs.js')).registerJobs, readsRecords: true },
  { names: ['status'], load: async () => (await import('./commands/status.js')).registerStatus, readsRecords: true },
  { names: ['cancel'], load: async () => (await import('./commands/cancel.js')).registerCancel, readsRecords: true },
  { names: ['pause', 'resume'], load: async () => (await import('./commands/pause.js')).registerPause, readsRecords: true },
  { names: ['retry-failed'], load: async () => (await import('./commands/retry-failed.js')).registerRetryFailed, readsRecords: true },
  { names: ['archive'], load: async () => (await import('./commands/archive.js')).registerArchive, readsRecords: true },
  { names: ['prune'], load: async () => (await import('./commands/prune.js')).registerPrune, readsRecords: true },
  { names: ['work'], load: async () => (await import('./commands/work.js')).registerWork },
  { names: ['types'], load: async () => (await import('./commands/types.js')).registerTypes },
  { names: ['results'], load: async () => (await import('./commands/results.js')).registerResults, readsRecords: true },
  { names: ['dashboard'], load: async () => (await import('./commands/dashboard.js')).registerDashboard, readsRecords: true },
];

/** Options of the program itself that take a value (the command name comes after it). */
const GLOBAL_VALUE_OPTIONS = new Set(['--database-url', '--job-types']);
const GLOBAL_FLAGS = new Set(['--json', '--verbose', '--wide']);
const VERSION_FLAGS = new Set(['-V', '--version']);

/**
 * The program for `argv` (as process.argv: node, script, arguments), with
 * the commands it can need registered. `json`: --json was given, so
 * --version and --help print JSON documents.
 */
export async function buildProgram(options: { json?: boolean; argv?: string[] } = {}): Promise<Command> {
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
    .option('--job-types <modules>', 'job-type modules to load for the commands that build or run tasks, comma-separated (env GEO_JOB_TYPES)')
    // main prints usage errors like every other failure (under --json too); help goes through the screen.
    .configureOutput({ writeOut: (text) => screen.out(text), writeErr: (text) => screen.err(text), outputError: () => {} })
    .exitOverride();
  const globals = () => program.opts<GlobalOptions>();
  program.hook('preAction', async (_program, command) => {
    let named = command;
    while (named.parent && named.parent !== program) named = named.parent;
    if (COMMANDS.find((c) => c.names.includes(named.name()))?.readsRecords) return;
    const { loadConfiguredJobTypes } = await import('./job-types.js');
    await loadConfiguredJobTypes(program.opts<{ jobTypes?: string }>().jobTypes);
  });
  const needed = commandsFor(options.argv);
  for (const register of await Promise.all(needed.map((c) => c.load()))) register(program, globals);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/**
 * The commands parsing `argv` can reach: the one named, none for a version
 * request, and every one otherwise (help, no command, a name geo does not
 * know, an option it cannot skip), so that help and commander's own errors
 * and suggestions stay as they were.
 */
function commandsFor(argv: string[] | undefined): typeof COMMANDS {
  if (!argv) return COMMANDS;
  let version = false;
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!;
    if (GLOBAL_VALUE_OPTIONS.has(arg)) i++;
    else if (VERSION_FLAGS.has(arg)) version = true;
    else if (GLOBAL_FLAGS.has(arg) || [...GLOBAL_VALUE_OPTIONS].some((o) => arg.startsWith(`${o}=`))) continue;
    else if (arg.startsWith('-')) return COMMANDS;
    else {
      const named = COMMANDS.find((c) => c.names.includes(arg));
      return named ? [named] : COMMANDS;
    }
  }
  return version ? [] : COMMANDS;
}
