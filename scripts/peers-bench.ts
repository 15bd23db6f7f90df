/**
 * End to end against the peers (issue 20): geo, graphile-worker and pg-boss
 * processing the same number of no-op jobs on one PostgreSQL, in one run,
 * alternating, each in a process of its own.
 *
 * - geo: exactly what scripts/work-bench.ts measures (its `measure`):
 *   `geo submit hello_world --n JOBS/2`, then one `geo work --concurrency C
 *   --until-idle`, JOBS tasks over two stages (stage 2 fanned out by the
 *   worker's advancer); the rate over the job's clock (the submit counted)
 *   and from the worker's first claim (the submit not counted).
 * - graphile-worker: JOBS jobs added with `addJobs` (not timed), then one
 *   `runOnce` pool of C workers timed until the queue is empty; as installed
 *   (no batching) and with the batching its docs recommend for throughput.
 * - pg-boss: JOBS jobs added with `insert` (not timed), then one `work()`
 *   (`--pg-boss <batchSize>x<localConcurrency>`) timed until all completed.
 *
 * Each peer gets a fresh schema in one bench database, dropped after its
 * run; geo a fresh database per run (work-bench's way).
 *
 *   npm run build && npx tsx scripts/peers-bench.ts               # 200,000 jobs, 3 runs
 *   npx tsx scripts/peers-bench.ts --jobs 20000 --runs 1
 *   npx tsx scripts/peers-bench.ts --systems geo,pg-boss --pg-boss 500x2
 *   npm run bench -- --only peers                                 # the same, from the bench
 *
 * Without DATABASE_URL it starts an embedded server in a temporary GEO_HOME.
 * Prints a table (with --json: one JSON document on stdout, the table on
 * stderr); --out FILE also writes the JSON document there.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../src/store/embedded/server.js';
import type { ChildResult } from './peers/child.js';
import { admin, scratchHome, withDatabase } from './support/database.js';
import { measure, type WorkBenchTarget } from './work-bench.js';

const ROOT = path.resolve(import.meta.dirname, '..');

interface System {
  name: string;
  /** How it is configured, for the table and the document. */
  config: string;
  /** One timed run, giving one figure per row it fills. */
  measure(run: number): Promise<RunFigures[]>;
}

/** One row's figure from one run (geo's run gives two rows: its two clocks). */
interface RunFigures {
  row: string;
  jobsPerSecond: number;
  seconds: number;
  detail?: Record<string, unknown>;
}

const SYSTEMS = ['geo', 'graphile-worker', 'graphile-worker-batched', 'pg-boss'];

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '16' },
    systems: { type: 'string', default: SYSTEMS.join(',') },
    'pg-boss': { type: 'string', default: '1000x2' },
    json: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});
const jobs = Number(values.jobs);
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
const chosen = values.systems!.split(',').map((s) => s.trim());
const unknown = chosen.filter((s) => !SYSTEMS.includes(s));
if (unknown.length > 0 || !(jobs >= 2 && jobs % 2 === 0) || !(runs >= 1) || !(concurrency >= 1) || !/^\d+x\d+$/.test(values['pg-boss']!)) {
  process.stderr.write(
    `usage: --jobs <even n> --runs <k> --concurrency <c> --systems ${SYSTEMS.join(',')} --pg-boss <batchSize>x<localConcurrency>` +
      (unknown.length > 0 ? `\nunknown system: ${unknown.join(', ')}` : '') +
      '\n',
  );
  process.exit(2);
}

// The table goes where the person is: stderr when stdout carries the JSON document.
const say = (text: string) => (values.json ? process.stderr : process.stdout).write(`${text}\n`);
const progress = (text: string) => process.stderr.write(`${text}\n`);

const systems = chosen.map(system);
let home: string | undefined;
let adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  home = await scratchHome('geo-peers-bench-');
  adminUrl = (await ensureEmbeddedServer({ home })).connectionString;
}
const peersDatabase = `geo_peers_bench_${crypto.randomBytes(4).toString('hex')}`;
const peersUrl = withDatabase(adminUrl, peersDatabase);

const figures: Array<RunFigures & { system: string; run: number; load1: number }> = [];
const loadBefore = os.loadavg();
let serverVersion = '';
const started = Date.now();
// A run that fails (a full disk, a peer that gave up) ends the bench, but what was measured before it is still reported.
let failure: string | undefined;
try {
  await admin(adminUrl, `CREATE DATABASE ${peersDatabase}`);
  serverVersion = (await admin(peersUrl, 'SHOW server_version')) ?? '';
  for (let run = 1; run <= runs; run++) {
    // Alternating, and each run starting one further along, so no system always follows the same one.
    const order = systems.map((_, i) => systems[(i + run - 1) % systems.length]!);
    for (const s of order) {
      const load1 = os.loadavg()[0]!;
      progress(`run ${run}/${runs}: ${s.name} (load ${load1.toFixed(2)})`);
      for (const f of await s.measure(run)) {
        figures.push({ ...f, system: s.name, run, load1 });
        progress(`  ${f.row}: ${Math.round(f.jobsPerSecond).toLocaleString('en-US')} jobs/s (${f.seconds.toFixed(2)} s)`);
      }
    }
  }
} catch (err) {
  failure = err instanceof Error ? err.message : String(err);
  progress(`stopped: ${failure}`);
} finally {
  await admin(adminUrl, `DROP DATABASE IF EXISTS ${peersDatabase} WITH (FORCE)`).catch(() => undefined);
  if (home) {
    await stopEmbeddedServer(home, { force: true }).catch(() => undefined);
    await fs.rm(home, { recursive: true, force: true });
  }
}
const loadAfter = os.loadavg();

const rows = [...new Set(figures.map((f) => f.row))].map((row) => {
  const of = figures.filter((f) => f.row === row);
  const rates = of.map((f) => f.jobsPerSecond).sort((a, b) => a - b);
  const s = systems.find((x) => x.name === of[0]!.system)!;
  return {
    row,
    system: s.name,
    config: s.config,
    medianJobsPerSecond: Math.round(rates[Math.floor((rates.length - 1) / 2)]!),
    minJobsPerSecond: Math.round(rates[0]!),
    maxJobsPerSecond: Math.round(rates[rates.length - 1]!),
    runs: of.map(({ run, jobsPerSecond, seconds, load1, detail }) => ({ run, jobsPerSecond: Math.round(jobsPerSecond), seconds, load1, ...detail })),
  };
});
const document = {
  generatedAt: new Date().toISOString(),
  jobs,
  concurrency,
  runs,
  machine: { cpus: os.cpus().length, node: process.version, postgres: serverVersion },
  loadAverage: { before: loadBefore, after: loadAfter },
  wallSeconds: Math.round((Date.now() - started) / 1000),
  ...(failure ? { error: failure } : {}),
  rows,
};

say(`\n${n(jobs)} no-op jobs per run, ${runs} run(s) each, alternating; jobs/s median (range)`);
say('| system | jobs/s, median | range | configuration |');
say('|---|---:|---|---|');
for (const r of rows) say(`| ${r.row} | ${n(r.medianJobsPerSecond)} | ${n(r.minJobsPerSecond)}-${n(r.maxJobsPerSecond)} | ${r.config} |`);
say(`load average (1, 5, 15 min): before ${loadBefore.map((l) => l.toFixed(2)).join(', ')}; after ${loadAfter.map((l) => l.toFixed(2)).join(', ')}`);
if (values.json) process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
if (values.out) await fs.writeFile(values.out, `${JSON.stringify(document, null, 2)}\n`);
if (failure) process.exitCode = 1;

function n(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

function system(name: string): System {
  const [batchSize, workers] = values['pg-boss']!.split('x');
  switch (name) {
    case 'geo':
      return {
        name,
        config: `geo submit hello_world --n ${n(jobs / 2)}, one geo work --concurrency ${concurrency} (two stages, stage 2 fanned out by the worker)`,
        measure: geoRun,
      };
    case 'graphile-worker':
      return { name, config: `runOnce, concurrentJobs ${concurrency}, no batching (its defaults)`, measure: (run) => peerRun(name, 'default', run) };
    case 'graphile-worker-batched':
      return {
        name,
        config: `runOnce, concurrentJobs ${concurrency}, localQueue 500, completeJobBatchDelay 0 (its docs' batching)`,
        measure: (run) => peerRun('graphile-worker', 'batched', run, name),
      };
    default:
      return {
        name,
        config: `one work(), batchSize ${batchSize}, localConcurrency ${workers}, burstWhenBatchFull`,
        measure: (run) => peerRun(name, values['pg-boss']!, run),
      };
  }
}

async function geoRun(run: number): Promise<RunFigures[]> {
  const target: WorkBenchTarget = { adminUrl: adminUrl!, home, n: jobs / 2, concurrency };
  const r = await measure(target, run);
  const detail = { submitWallMs: r.submitWallMs, workWallMs: r.workWallMs, workElapsedMs: r.workElapsedMs };
  return [
    { row: 'geo, job clock (submit + work)', jobsPerSecond: r.tasksPerSecond, seconds: r.jobSeconds, detail },
    { row: 'geo, from the first claim', jobsPerSecond: r.workTasksPerSecond, seconds: r.workSeconds, detail },
  ];
}

/** A peer in a fresh schema: its jobs added by one child process, processed (and timed) by another. */
async function peerRun(peer: string, variant: string, run: number, row = peer): Promise<RunFigures[]> {
  const schema = `peers_${peer.replace(/-/g, '_')}_${run}_${crypto.randomBytes(3).toString('hex')}`;
  const common = ['--url', peersUrl, '--schema', schema, '--jobs', String(jobs), '--concurrency', String(concurrency), '--variant', variant];
  try {
    await child(peer, ['--mode', 'prepare', ...common]);
    const result = (await child(peer, ['--mode', 'run', ...common])) as ChildResult;
    const left = await remaining(peer, schema);
    if (result.jobs !== jobs || left !== 0) throw new Error(`${row} run ${run}: handled ${result.jobs} of ${jobs} jobs, ${left} not completed`);
    const seconds = result.elapsedMs / 1000;
    return [{ row, jobsPerSecond: jobs / seconds, seconds: Math.round(seconds * 100) / 100, detail: { settings: result.settings } }];
  } finally {
    await admin(peersUrl, `DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
}

/** Jobs the peer has not completed: graphile-worker deletes a job when it completes; pg-boss marks it completed. */
async function remaining(peer: string, schema: string): Promise<number> {
  const sql =
    peer === 'graphile-worker'
      ? `SELECT count(*)::int AS left FROM ${schema}._private_jobs`
      : `SELECT count(*)::int AS left FROM ${schema}.job WHERE state <> 'completed'`;
  return Number(await admin(peersUrl, sql));
}

function child(peer: string, args: string[]): Promise<unknown> {
  const script = path.join(ROOT, 'scripts/peers', `${peer}.ts`);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    proc.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${peer} ${args[1]} exited with ${code}: ${stdout}`));
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new Error(`${peer} ${args[1]} printed no JSON document: ${stdout}`));
      }
    });
  });
}
