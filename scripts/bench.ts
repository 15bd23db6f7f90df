/**
 * `npm run bench`: runs `geo bench` on this machine against embedded
 * PostgreSQL, Azurite (Storage Queue) and the Service Bus AMQP test peer, at
 * N = 10,000 and 100,000 on loopback, then with simulated cloud round trips
 * (the seeds' assumptions, and the 2 ms / 20 ms acceptance check).
 * Prints the tables and writes every JSON document to docs/bench-results.json
 * (the source of docs/benchmarks.md).
 *
 * Then the start-up of a command (scripts/startup-bench.ts) and, with --all
 * or --only input, a file submit against --n at a million tasks
 * (scripts/input-bench.ts, three pairs: about ten minutes).
 *
 *   npm run bench                        # about three minutes
 *   npm run bench -- --all               # also Storage Queue at N = 100,000 (six more) and the input pairs
 *   npm run bench -- --only loopback-10k # one scenario (names below, and startup, input)
 *   npm run bench -- --out /tmp/b.json   # default: docs/bench-results.json
 *   npm run bench -- --only peers        # geo work against graphile-worker and pg-boss (scripts/peers-bench.ts)
 *   npm run bench -- --only servicebus-submit [--base /path/to/other/bin/geo.js]
 *                                        # geo submit --n 100000 over the Service Bus peer (its own process) at 0, 20
 *                                        # and 200 ms a transfer, and on the local transport (scripts/servicebus-submit-bench.ts)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Output } from '../src/cli/output.js';
import { type BenchDocument, renderBench } from '../src/cli/render/bench.js';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../src/store/embedded/server.js';
import { type Azurite, startAzurite } from '../test/support/azurite.js';
import { startServiceBusPeer } from '../test/support/servicebus-peer/index.js';
import { describeInputBench, type InputBenchDocument, measureInputAgainstN } from './input-bench.js';
import { describeServiceBusSubmit, measureServiceBusSubmit, type ServiceBusSubmitDocument } from './servicebus-submit-bench.js';
import { describeStartup, measureStartup, type StartupDocument } from './startup-bench.js';
import { scratchHome } from './support/database.js';

const ROOT = path.resolve(import.meta.dirname, '..');

/** Each scenario is one `geo bench` invocation (or a `script`'s, printing its own table); `extra` ones run with --all or --only. */
const SCENARIOS: Array<{ name: string; title: string; args: string[]; extra?: boolean; script?: string; timeoutMinutes?: number }> = [
  { name: 'loopback-10k', title: 'loopback, N = 10,000, median of 3 runs', args: ['--path', 'all', '--n', '10000', '--runs', '3'] },
  { name: 'loopback-100k', title: 'loopback, N = 100,000', args: ['--path', 'local,servicebus', '--n', '100000'] },
  {
    // About six minutes on its own: Azurite (one Node process, writing each message to disk) takes a few hundred sends per second.
    name: 'loopback-100k-storage',
    title: 'Storage Queue on Azurite, loopback, N = 100,000',
    args: ['--path', 'storage-queue', '--n', '100000'],
    extra: true,
  },
  {
    name: 'latency-2-20',
    title: 'Service Bus with 2 ms database and 20 ms broker round trips, N = 10,000, median of 3 runs',
    args: ['--path', 'servicebus', '--n', '10000', '--individual-n', '300', '--runs', '3', '--db-latency', '2', '--queue-latency', '20'],
  },
  {
    name: 'seeds-latency',
    title: "the seeds' assumptions: 50 ms per database write, 50 ms per send, N = 1,000",
    args: ['--path', 'all', '--n', '1000', '--individual-n', '100', '--db-latency', '50', '--queue-latency', '50'],
  },
  {
    name: 'seeds-servicebus-200',
    title: "the seeds' Service Bus batch: 50 ms per database write, 200 ms per send, N = 1,000",
    args: ['--path', 'servicebus', '--n', '1000', '--individual-n', '20', '--db-latency', '50', '--queue-latency', '200'],
  },
  {
    // 20-50 minutes on a loaded 2-core machine: four systems, 200,000 jobs each, three runs.
    name: 'peers',
    title: 'end to end against graphile-worker and pg-boss, 200,000 no-op jobs, 3 runs each, alternating',
    script: 'scripts/peers-bench.ts',
    args: ['--jobs', '200000', '--runs', '3'],
    extra: true,
    timeoutMinutes: 120,
  },
];

const { values } = parseArgs({
  options: {
    only: { type: 'string', multiple: true },
    all: { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(ROOT, 'docs/bench-results.json') },
    /** Another build's bin/geo.js, measured in turn with this one (servicebus-submit). */
    base: { type: 'string' },
  },
});
const wanted = (s: { name: string; extra?: boolean }) => (values.only ? values.only.includes(s.name) : values.all || !s.extra);
/** Measurements of single commands rather than of geo bench, after the scenarios. */
const COMMAND_MEASUREMENTS = [{ name: 'startup' }, { name: 'input', extra: true }, { name: 'servicebus-submit', extra: true }];
const chosen = SCENARIOS.filter(wanted);
if (chosen.length === 0 && !COMMAND_MEASUREMENTS.some(wanted)) {
  const known = [...SCENARIOS, ...COMMAND_MEASUREMENTS].map((s) => s.name).join(', ');
  process.stderr.write(`no scenario named ${values.only?.join(', ')}; known: ${known}\n`);
  process.exit(2);
}

const home = await scratchHome('geo-bench-home-');
const started = Date.now();
process.stderr.write('starting embedded PostgreSQL and the Service Bus test peer (Azurite: one per scenario)...\n');
const server = await ensureEmbeddedServer({ home });
const peer = await startServiceBusPeer({ queues: { 'geo-tasks-bench': { duplicateDetection: true } } });
// Azurite keeps its messages on disk here: in memory, clearing a large queue
// leaves one extent per message, and Azurite's next garbage collection
// (every 60 s) then stops it answering for minutes.
let azurite: Azurite | undefined;
const env = (storage: Azurite) => ({
  DATABASE_URL: server.connectionString,
  GEO_HOME: home,
  GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString(),
  GEO_STORAGE_CONNECTION_STRING: storage.connectionString,
});

const results: Array<{
  name: string;
  title: string;
  command: string;
  document?: BenchDocument;
  startup?: StartupDocument;
  input?: InputBenchDocument;
  servicebusSubmit?: ServiceBusSubmitDocument;
  error?: string;
}> = [];
const output = new Output(false);
try {
  for (const scenario of chosen) {
    const args = scenario.script ? [scenario.script, ...scenario.args, '--json'] : ['bench', ...scenario.args, '--json'];
    const command = scenario.script ? `tsx ${args.join(' ')}` : `geo ${args.join(' ')}`;
    process.stderr.write(`\n== ${scenario.title}\n$ ${command}\n`);
    // A fresh, empty Azurite for each scenario.
    await azurite?.dispose();
    azurite = await startAzurite({ persistent: true });
    try {
      const argv = scenario.script
        ? ['--import', 'tsx', path.join(ROOT, scenario.script), ...scenario.args, '--json']
        : [path.join(ROOT, 'bin/geo.js'), ...args];
      const document = await runNode(argv, env(azurite), (scenario.timeoutMinutes ?? 15) * 60_000);
      results.push({ name: scenario.name, title: scenario.title, command, document });
      if (!scenario.script) renderBench(output, document);
    } catch (err) {
      // One scenario failing (a broker stand-in that gave up) leaves the others worth having.
      const error = err instanceof Error ? err.message : String(err);
      results.push({ name: scenario.name, title: scenario.title, command, error });
      process.stderr.write(`${error}\n`);
    }
  }
  const bin = path.join(ROOT, 'bin/geo.js');
  if (COMMAND_MEASUREMENTS.filter(wanted).some((m) => m.name === 'startup')) {
    const title = 'start-up: geo --version and geo status <job> --json against node -e 0, CPU seconds a start, median of 5 x 10';
    process.stderr.write(`\n== ${title}\n`);
    const startup = await measureStartup({
      bin,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, GEO_HOME: home, DATABASE_URL: server.connectionString },
      runs: 5,
    });
    results.push({ name: 'startup', title, command: 'npx tsx scripts/startup-bench.ts --runs 5', startup });
    process.stdout.write(`${describeStartup(startup)}\n`);
  }
  if (COMMAND_MEASUREMENTS.filter(wanted).some((m) => m.name === 'input')) {
    const title = 'geo submit tiles --input (1,000,000 lines) against geo submit hello_world --n 1000000, fresh databases, 3 pairs';
    process.stderr.write(`\n== ${title}\n`);
    const input = await measureInputAgainstN({
      lines: 1_000_000,
      runs: 3,
      builds: [{ name: 'this', bin }],
      onResult: (text) => process.stderr.write(`${text}\n`),
    });
    results.push({ name: 'input', title, command: 'npx tsx scripts/input-bench.ts --lines 1000000 --runs 3', input });
    process.stdout.write(`${describeInputBench(input)}\n`);
  }
  if (COMMAND_MEASUREMENTS.filter(wanted).some((m) => m.name === 'servicebus-submit')) {
    const title =
      'geo submit hello_world --n 100000 over the Service Bus peer (a process of its own) at 0, 20 and 200 ms a transfer, and local, fresh databases, medians of 3';
    process.stderr.write(`\n== ${title}\n`);
    const base = values.base ? path.resolve(values.base) : undefined;
    const servicebusSubmit = await measureServiceBusSubmit({
      n: 100_000,
      runs: 3,
      latencies: [0, 20, 200],
      local: true,
      builds: [{ name: 'this', bin }, ...(base ? [{ name: 'base', bin: base }] : [])],
      onResult: (text) => process.stderr.write(`${text}\n`),
    });
    const command = `npx tsx scripts/servicebus-submit-bench.ts --n 100000 --runs 3${base ? ` --base ${values.base}` : ''}`;
    results.push({ name: 'servicebus-submit', title, command, servicebusSubmit });
    process.stdout.write(`${describeServiceBusSubmit(servicebusSubmit)}\n`);
  }
} finally {
  await peer.close();
  await azurite?.dispose();
  await stopEmbeddedServer(home, { force: true }).catch(() => undefined);
  await fs.rm(home, { recursive: true, force: true });
}
await fs.writeFile(values.out!, `${JSON.stringify({ generatedAt: new Date().toISOString(), results }, null, 2)}\n`);
process.stderr.write(`\nwrote ${path.relative(process.cwd(), values.out!)} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
if (results.some((r) => r.error)) process.exitCode = 1;

/**
 * Runs the built geo binary (or a script) with the bench environment and returns its JSON
 * document. A run past `timeoutMs` is interrupted (Ctrl-C: it cleans up and
 * exits), then killed.
 */
function runNode(argv: string[], env: Record<string, string>, timeoutMs: number): Promise<BenchDocument> {
  const label = argv
    .slice(argv[0] === '--import' ? 2 : 0)
    .map((a) => (a.startsWith(ROOT) ? path.relative(ROOT, a) : a))
    .join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const interrupt = setTimeout(() => {
      process.stderr.write(`${label} ran past ${timeoutMs / 60_000} minutes; interrupting it\n`);
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
    }, timeoutMs);
    child.on('close', () => clearTimeout(interrupt));
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        const document = JSON.parse(stdout) as BenchDocument;
        if (code === 0) resolve(document);
        else reject(new Error(`${label} exited with ${code}: ${stdout}`));
      } catch {
        reject(new Error(`${label} exited with ${code} and printed no JSON document: ${stdout}`));
      }
    });
  });
}
