/**
 * End to end through the real binary on the local transport: `geo submit
 * hello_world --n N`, then one `geo work --concurrency C --until-idle`
 * process runs both stages (2N tasks) and advances them. The figure is 2N
 * over the job's own clock, from its row being created (submit) to its
 * completion (the worker's advancer), so process start-up and the idle wait
 * at the end are not counted; both processes' wall times are reported too.
 *
 *   npm run build && npx tsx scripts/work-bench.ts                 # n 100,000, concurrency 16, 3 runs
 *   npx tsx scripts/work-bench.ts --n 20000 --runs 1 --concurrency 8
 *   DATABASE_URL=postgres://... npx tsx scripts/work-bench.ts
 *   npx tsx scripts/work-bench.ts --vs /path/to/other/bin/geo.js   # the two builds alternately, same server
 *
 * Without DATABASE_URL it starts an embedded server in a temporary GEO_HOME
 * and stops it at the end. Each run works in a fresh database, dropped after
 * it. Prints one JSON document on stdout.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { admin, benchServer, withDatabase } from './support/database.js';

const BIN = path.resolve(import.meta.dirname, '../bin/geo.js');

/** The server a measurement runs on: each run makes a database of its own there and drops it after. */
export interface WorkBenchTarget {
  adminUrl: string;
  /** GEO_HOME for the geo processes (the embedded server's home, when there is one). */
  home?: string;
  n: number;
  concurrency: number;
}

export type WorkBenchRun = Awaited<ReturnType<typeof measure>>;

// Imported (scripts/peers-bench.ts) it only lends `measure`; run, it is the bench.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '100000' },
      concurrency: { type: 'string', default: '16' },
      runs: { type: 'string', default: '3' },
      vs: { type: 'string' },
    },
  });
  const n = Number(values.n);
  const runs = Number(values.runs);

  const server = await benchServer('geo-work-bench-');
  const target: WorkBenchTarget = { adminUrl: server.adminUrl, home: server.home, n, concurrency: Number(values.concurrency) };

  const bins = values.vs ? [BIN, path.resolve(values.vs)] : [BIN];
  const results: WorkBenchRun[] = [];
  try {
    // Alternating, so both builds see the same machine load.
    for (let run = 1; run <= runs; run++) for (const bin of bins) results.push(await measure(target, run, bin));
  } finally {
    await server.close();
  }
  const median = (bin: string) => {
    const rates = results
      .filter((r) => r.bin === bin)
      .map((r) => r.tasksPerSecond)
      .sort((a, b) => a - b);
    return rates[Math.floor(rates.length / 2)] ?? 0;
  };
  const medians = Object.fromEntries(bins.map((bin) => [bin, median(bin)]));
  process.stdout.write(
    `${JSON.stringify(
      {
        n,
        tasks: 2 * n,
        concurrency: target.concurrency,
        runs: results,
        medianTasksPerSecond: median(BIN),
        ...(values.vs ? { medians, ratio: Math.round((median(BIN) / median(bins[1]!)) * 1000) / 1000 } : {}),
        loadAverage: os.loadavg(),
      },
      null,
      2,
    )}\n`,
  );
}

/**
 * One run: a fresh database, `geo migrate`, `geo submit hello_world --n N`,
 * then one `geo work --concurrency C --until-idle`; the rate is 2N over the
 * job's clock (created to completed). `workTasksPerSecond` is 2N from the
 * worker's first claim to the job's completion (the submit not counted).
 */
export async function measure(target: WorkBenchTarget, run: number, bin = BIN) {
  const { n, home } = target;
  const database = `geo_work_bench_${crypto.randomBytes(4).toString('hex')}`;
  await admin(target.adminUrl, `CREATE DATABASE ${database}`);
  const url = withDatabase(target.adminUrl, database);
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: url, GEO_HOME: home ?? os.tmpdir() };
  try {
    // Migrations first, outside the timing.
    await geo(bin, ['migrate'], env);
    const submit = await geo(bin, ['submit', 'hello_world', '--n', String(n), '--param', `name=bench${run}`, '--json'], env);
    const work = await geo(bin, ['work', '--concurrency', String(target.concurrency), '--until-idle', '--idle', '1s', '--json'], env);
    const doc = JSON.parse(work.stdout) as { tasks: number; completed: number; elapsedMs: number };
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // A task's started_at is the start of the claim that took it, so the earliest is the worker's first claim.
      const { rows } = await client.query<{ status: string; seconds: number; workSeconds: number }>(
        `SELECT status, extract(epoch FROM completed_at - created_at)::float8 AS seconds,
                extract(epoch FROM completed_at - (SELECT min(started_at) FROM tasks))::float8 AS "workSeconds"
         FROM jobs`,
      );
      const job = rows[0]!;
      if (rows.length !== 1 || job.status !== 'completed' || doc.completed !== 2 * n) throw new Error(`run ${run} did not complete: ${work.stdout}`);
      return {
        run,
        bin,
        tasksPerSecond: Math.round((2 * n) / job.seconds),
        jobSeconds: Math.round(job.seconds * 100) / 100,
        workTasksPerSecond: Math.round((2 * n) / job.workSeconds),
        workSeconds: Math.round(job.workSeconds * 100) / 100,
        submitWallMs: submit.wallMs,
        workWallMs: work.wallMs,
        workElapsedMs: doc.elapsedMs,
      };
    } finally {
      await client.end();
    }
  } finally {
    await admin(target.adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

function geo(bin: string, args: string[], env: Record<string, string | undefined>): Promise<{ stdout: string; wallMs: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve({ stdout, wallMs: Date.now() - started }) : reject(new Error(`geo ${args.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}
