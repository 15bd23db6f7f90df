/**
 * `geo submit tiles --input FILE` against `geo submit hello_world --n N` on
 * the same number of tasks, side by side: each submit on a fresh embedded
 * database (a GEO_HOME of its own, started and migrated before the clock
 * starts), the pair's order alternating run by run. Prints every run, the
 * input submit's rate as a share of the --n rate per pair, and the medians;
 * peak RSS from /usr/bin/time. With --base, a second build's pair runs in the
 * same run, so before and after are measured under the same load. A
 * benchmark, not a test.
 *
 *   npm run build && npx tsx scripts/input-bench.ts [--lines 1000000] [--runs 3] [--base /path/to/other/bin/geo.js] [--build bin/geo.js]
 *   npx tsx scripts/input-bench.ts --lines 10000000 --runs 1 --only input   # peak RSS at 10 million lines
 *
 * GEO_INPUT_WORKERS is passed on to every submit when set.
 *
 * The input is every tile of the smallest zoom with enough tiles, cut at
 * --lines, as NDJSON ({"z":..,"x":..,"y":..} per line), written to a
 * temporary folder (or --file).
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { scratchHome } from './support/database.js';
import { run } from './support/run.js';
import { median, round } from './support/stats.js';

const ROOT = path.resolve(import.meta.dirname, '..');

export interface InputBenchDocument {
  lines: number;
  runs: number;
  results: Measured[];
  summary: Array<ReturnType<typeof summarise>>;
}

interface Measured {
  build: string;
  kind: 'n' | 'input';
  run: number;
  wallMs: number;
  tasksPerSecond: number;
  peakRssMb: number;
  cpuSeconds: number;
  checkMs?: number;
  load: number;
}

type Kind = Measured['kind'];

/**
 * Runs the pairs: for each run and each build, `--n` and `--input` on fresh
 * databases (order alternating by run). `onResult` sees each submit as it ends.
 */
export async function measureInputAgainstN(params: {
  lines: number;
  runs: number;
  builds: Array<{ name: string; bin: string }>;
  kinds?: Kind[];
  file?: string;
  onResult?: (line: string) => void;
}): Promise<InputBenchDocument> {
  const { lines, runs, builds } = params;
  const kinds = params.kinds ?? ['n', 'input'];
  const work = await scratchHome('geo-input-bench-');
  try {
    const file = params.file ?? (await writeTiles(path.join(work, 'tiles.ndjson'), lines));
    const results: Measured[] = [];
    for (let round = 1; round <= runs; round++) {
      for (const build of builds) {
        const order = round % 2 === 1 ? kinds : [...kinds].reverse();
        for (const kind of order) {
          const args = kind === 'n' ? ['submit', 'hello_world', '--n', String(lines), '--json'] : ['submit', 'tiles', '--input', file, '--json'];
          const measured = await timedOnFreshDatabase(build.bin, args, path.join(work, `home-${build.name}-${kind}-${round}`));
          const doc = measured.doc as { tasks: number; input?: { elapsedMs: number } };
          if (doc.tasks !== lines) throw new Error(`${build.name} ${kind}: ${doc.tasks} tasks, expected ${lines}`);
          const result: Measured = {
            build: build.name,
            kind,
            run: round,
            wallMs: Math.round(measured.wallMs),
            tasksPerSecond: Math.round((lines / measured.wallMs) * 1000),
            peakRssMb: Math.round(measured.peakRssKb / 1024),
            cpuSeconds: Number(measured.cpuSeconds.toFixed(2)),
            checkMs: doc.input?.elapsedMs,
            load: Number(measured.load.toFixed(2)),
          };
          results.push(result);
          params.onResult?.(line(result));
        }
      }
    }
    return {
      lines,
      runs,
      results,
      summary: builds.map((build) =>
        summarise(
          build.name,
          kinds,
          results.filter((r) => r.build === build.name),
        ),
      ),
    };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

function line(r: Measured): string {
  const check = r.checkMs !== undefined ? `, check ${(r.checkMs / 1000).toFixed(2)} s` : '';
  return `run ${r.run} ${r.build.padEnd(4)} ${r.kind.padEnd(5)} ${(r.wallMs / 1000).toFixed(2).padStart(7)} s ${String(r.tasksPerSecond).padStart(7)} tasks/s  peak RSS ${r.peakRssMb} MB  cpu ${r.cpuSeconds.toFixed(1)} s${check}  (load ${r.load.toFixed(1)})`;
}

function summarise(build: string, kinds: Kind[], rows: Measured[]) {
  const of = (kind: string) => rows.filter((r) => r.kind === kind);
  const ratios = of('input')
    .map((input) => {
      const n = of('n').find((r) => r.run === input.run);
      return n ? input.tasksPerSecond / n.tasksPerSecond : undefined;
    })
    .filter((r): r is number => r !== undefined);
  const summary = {
    build,
    medianRatio: ratios.length > 0 ? round(median(ratios), 3) : undefined,
    ratios: ratios.map((r) => round(r, 3)),
    medianTasksPerSecond: Object.fromEntries(kinds.map((k) => [k, median(of(k).map((r) => r.tasksPerSecond))])),
    peakRssMb: Object.fromEntries(kinds.map((k) => [k, Math.max(...of(k).map((r) => r.peakRssMb))])),
    medianCheckMs: of('input').length > 0 ? median(of('input').map((r) => r.checkMs ?? 0)) : undefined,
  };
  const text =
    `${build}: ` +
    kinds.map((k) => `${k} median ${summary.medianTasksPerSecond[k]} tasks/s, peak RSS ${summary.peakRssMb[k]} MB`).join('; ') +
    (summary.medianRatio !== undefined ? `; input/n ${summary.medianRatio} (runs: ${summary.ratios.join(', ')})` : '') +
    (summary.medianCheckMs !== undefined ? `; check median ${(summary.medianCheckMs / 1000).toFixed(2)} s` : '');
  return { ...summary, text };
}

export function describeInputBench(doc: InputBenchDocument): string {
  return doc.summary.map((s) => s.text).join('\n');
}

/**
 * Starts an embedded database in `home` (untimed: initdb and migrations),
 * then runs `args` under /usr/bin/time, then stops the server and removes
 * the folder.
 */
async function timedOnFreshDatabase(bin: string, args: string[], home: string) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, GEO_HOME: home, GEO_INPUT_WORKERS: process.env.GEO_INPUT_WORKERS };
  try {
    await run(process.execPath, [bin, 'migrate'], env);
    const timeFile = `${home}.time`;
    const load = os.loadavg()[0]!;
    const started = performance.now();
    const stdout = await run('/usr/bin/time', ['-f', '%M %U %S', '-o', timeFile, process.execPath, bin, ...args], env);
    const wallMs = performance.now() - started;
    const [rss, user, system] = (await fs.readFile(timeFile, 'utf8')).trim().split('\n').at(-1)!.split(' ').map(Number);
    return { doc: JSON.parse(stdout) as unknown, wallMs, peakRssKb: rss!, cpuSeconds: user! + system!, load };
  } finally {
    await run(process.execPath, [bin, 'db', 'stop', '--force'], env).catch(() => undefined);
    await fs.rm(home, { recursive: true, force: true });
  }
}

/** The first `count` tiles of the smallest zoom that has as many, one JSON object per line. */
async function writeTiles(file: string, count: number): Promise<string> {
  let zoom = 0;
  while (4 ** zoom < count) zoom++;
  const size = 2 ** zoom;
  const out = createWriteStream(file);
  let text = '';
  for (let i = 0; i < count; i++) {
    text += `{"z":${zoom},"x":${Math.floor(i / size)},"y":${i % size}}\n`;
    if (text.length > 1 << 20) {
      if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      text = '';
    }
  }
  await new Promise<void>((resolve, reject) => out.end(text, () => resolve()).once('error', reject));
  return file;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '1000000' },
      runs: { type: 'string', default: '3' },
      base: { type: 'string' },
      build: { type: 'string', default: path.join(ROOT, 'bin/geo.js') },
      file: { type: 'string' },
      only: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const builds = [...(values.base ? [{ name: 'base', bin: path.resolve(values.base) }] : []), { name: 'this', bin: path.resolve(values.build!) }];
  const doc = await measureInputAgainstN({
    lines: Number(values.lines),
    runs: Number(values.runs),
    builds,
    kinds: values.only ? [values.only as Kind] : undefined,
    file: values.file ? path.resolve(values.file) : undefined,
    onResult: values.json ? undefined : (text) => process.stdout.write(`${text}\n`),
  });
  process.stdout.write(values.json ? `${JSON.stringify(doc, null, 2)}\n` : `${describeInputBench(doc)}\n`);
}
