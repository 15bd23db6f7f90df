/**
 * What a command costs before it does anything: the CPU seconds (user +
 * system, from /usr/bin/time over 10 starts in a row) of `geo --version` and
 * of `geo status <job> --json` (which also connects and reads the job), each
 * against a bare `node -e 0`, the three measured in turn, run after run,
 * medians. Part of
 * `npm run bench`; on its own it starts an embedded database in a temporary
 * GEO_HOME. A benchmark, not a test.
 *
 *   npm run build && npx tsx scripts/startup-bench.ts [--runs 5] [--bin bin/geo.js]
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { scratchHome } from './support/database.js';
import { run } from './support/run.js';
import { median, round } from './support/stats.js';

const ROOT = path.resolve(import.meta.dirname, '..');
/** Starts of a command per measurement. */
const STARTS = 10;

export interface StartupDocument {
  runs: number;
  /** Median CPU seconds of each command. */
  cpuSeconds: { node: number; version: number; status: number };
  /** Median wall seconds of each command. */
  wallSeconds: { node: number; version: number; status: number };
  /** Each command's median CPU over the bare node's. */
  ratio: { version: number; status: number };
  load: number;
}

/** Runs the three commands `runs` times each, in turn; `env` reaches a database where a small job is submitted first. */
export async function measureStartup(params: { bin: string; env: Record<string, string | undefined>; runs: number }): Promise<StartupDocument> {
  const { bin, env, runs } = params;
  const submitted = JSON.parse(await run(process.execPath, [bin, 'submit', 'hello_world', '--n', '10', '--param', 'name=startup', '--json'], env)) as {
    jobId: string;
  };
  const commands = {
    node: [process.execPath, '-e', '0'],
    version: [process.execPath, bin, '--version'],
    status: [process.execPath, bin, 'status', submitted.jobId, '--json'],
  };
  const samples: Record<keyof typeof commands, Array<{ cpu: number; wall: number }>> = { node: [], version: [], status: [] };
  const load = os.loadavg()[0]!;
  const scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-startup-'));
  try {
    // One unmeasured round first: the files are in the page cache for every measured one.
    for (let round = 0; round <= runs; round++) {
      for (const [name, argv] of Object.entries(commands) as Array<[keyof typeof commands, string[]]>) {
        const timeFile = path.join(scratch, `${name}-${round}`);
        const started = performance.now();
        // STARTS in a row under one /usr/bin/time: its figures have 10 ms steps, a start takes about 100 ms.
        const loop = `i=0; while [ $i -lt ${STARTS} ]; do "$@" >/dev/null || exit 1; i=$((i+1)); done`;
        await run('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, 'sh', '-c', loop, 'sh', ...argv], env);
        const wall = (performance.now() - started) / 1000 / STARTS;
        const [user, system] = (await fs.readFile(timeFile, 'utf8')).trim().split('\n').at(-1)!.split(' ').map(Number);
        if (round > 0) samples[name].push({ cpu: (user! + system!) / STARTS, wall });
      }
    }
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
  const cpu = (name: keyof typeof commands) => median(samples[name].map((s) => s.cpu));
  const wall = (name: keyof typeof commands) => median(samples[name].map((s) => s.wall));
  return {
    runs,
    cpuSeconds: { node: round(cpu('node'), 3), version: round(cpu('version'), 3), status: round(cpu('status'), 3) },
    wallSeconds: { node: round(wall('node')), version: round(wall('version')), status: round(wall('status')) },
    ratio: { version: round(cpu('version') / cpu('node')), status: round(cpu('status') / cpu('node')) },
    load: round(load),
  };
}

export function describeStartup(doc: StartupDocument): string {
  return (
    `start-up, CPU seconds a start (median of ${doc.runs} x ${STARTS}): geo --version ${doc.cpuSeconds.version.toFixed(3)} (${doc.ratio.version}x node -e 0), ` +
    `geo status <job> --json ${doc.cpuSeconds.status.toFixed(3)} (${doc.ratio.status}x), node -e 0 ${doc.cpuSeconds.node.toFixed(3)} (load ${doc.load})`
  );
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      bin: { type: 'string', default: path.join(ROOT, 'bin/geo.js') },
      json: { type: 'boolean', default: false },
    },
  });
  const home = await scratchHome('geo-startup-home-');
  const bin = path.resolve(values.bin!);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, GEO_HOME: home };
  try {
    const doc = await measureStartup({ bin, env, runs: Number(values.runs) });
    process.stdout.write(values.json ? `${JSON.stringify(doc, null, 2)}\n` : `${describeStartup(doc)}\n`);
  } finally {
    await run(process.execPath, [bin, 'db', 'stop', '--force'], env).catch(() => undefined);
    await fs.rm(home, { recursive: true, force: true });
  }
}
