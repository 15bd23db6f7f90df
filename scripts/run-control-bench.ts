/**
 * Cancel and prune of a large job through the real binary on the local
 * transport, beside a running `geo work` (docs/operations.md, "Measured"):
 *
 * 1. `geo submit hello_world --n N` and a `geo work` on it; once it has run a
 *    while, `geo cancel --json` (its statementMs is the one statement that
 *    ends the job; elapsedMs adds marking the unstarted rows cancelled).
 * 2. A second job and a `geo work` on it keep running; `geo prune
 *    --finished-before 0s --json` deletes the cancelled job. Meanwhile
 *    pg_stat_activity is sampled every few milliseconds for the worker's
 *    connections (application_name geo-work), and a probe connection claims
 *    and completes tasks of the running job as a worker does, each statement
 *    timed: what a concurrent geo work waited while the prune deleted.
 * 3. pg_total_relation_size of tasks and batches with the cancelled job
 *    alone (as left, then compacted), with both jobs before the prune, after
 *    it, after VACUUM, and (geo work stopped) after VACUUM FULL.
 *
 * A lock wait is a geo work backend seen with wait_event_type Lock in
 * consecutive samples: `extend` is the relation extension lock its own inserts
 * contend for, `transactionid` / `tuple` a row another transaction holds.
 *
 *   npm run build && npx tsx scripts/run-control-bench.ts                # 1,000,000 tasks
 *   npx tsx scripts/run-control-bench.ts --n 100000 --chunk-batches 50
 *   DATABASE_URL=postgres://... npx tsx scripts/run-control-bench.ts
 *
 * Without DATABASE_URL it starts an embedded server in a temporary GEO_HOME
 * and stops it at the end; the run works in a fresh database, dropped after.
 * Prints one JSON document on stdout, progress on stderr.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { admin, benchServer, scratchHome, withDatabase } from './support/database.js';

const BIN = path.resolve(import.meta.dirname, '../bin/geo.js');
const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    'running-n': { type: 'string', default: '300000' },
    'chunk-batches': { type: 'string' },
    'sample-ms': { type: 'string', default: '5' },
  },
});
const n = Number(values.n);
const runningN = Number(values['running-n']);
const sampleMs = Number(values['sample-ms']);

const server = await benchServer('geo-control-bench-');
const database = `geo_control_bench_${crypto.randomBytes(4).toString('hex')}`;
await admin(server.adminUrl, `CREATE DATABASE ${database}`);
const url = withDatabase(server.adminUrl, database);
const geoHome = server.home ?? (await scratchHome('geo-control-bench-'));
const children: ChildProcess[] = [];
let report: unknown;
try {
  report = await measure();
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await admin(server.adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await server.close();
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);

async function measure() {
  const db = new pg.Pool({ connectionString: url, max: 4, application_name: 'bench' });
  const loadAtStart = os.loadavg();
  try {
    note(`submitting ${n.toLocaleString('en-US')} tasks`);
    const big = await geoJson<{ jobId: string; elapsedMs: number }>(['submit', 'hello_world', '--n', String(n), '--param', 'name=cancelled', '--json']);
    const bigWork = startGeo(['work', '--concurrency', '8'], 'geo-work');
    await waitUntil(
      async () => (await scalar(db, `SELECT completed_count FROM stages WHERE job_id = $1 AND stage = 1`, [big.jobId])) >= Math.min(20_000, n / 10),
    );
    note('cancelling');
    const cancel = await geoJson<{ statementMs: number; elapsedMs: number; tasksCancelled: number }>(['cancel', big.jobId, '--json']);
    await stop(bigWork);
    const ran = await scalar(db, `SELECT sum(completed_count) FROM stages WHERE job_id = $1`, [big.jobId]);
    await vacuum(db);
    const cancelledJob = await sizes(db);
    // Marking the unstarted rows cancelled left a dead version of each: compacted (nothing runs now), so the
    // sizes below start from what a million finished task rows take.
    await vacuumFull(db);
    const cancelledJobCompacted = await sizes(db);

    note('starting the running job');
    const running = await geoJson<{ jobId: string }>(['submit', 'hello_world', '--n', String(runningN), '--param', 'name=running', '--json']);
    const work = startGeo(['work', '--concurrency', '8'], 'geo-work');
    await waitUntil(
      async () => (await scalar(db, `SELECT completed_count FROM stages WHERE job_id = $1 AND stage = 1`, [running.jobId])) >= Math.min(5_000, runningN / 10),
    );

    const probeBefore = await probe(db, running.jobId, 3_000);
    note('pruning');
    const before = await sizes(db);
    const sampler = sampleWaits(url);
    const probing = probeUntil(db, running.jobId);
    const pruneArgs = ['prune', '--finished-before', '0s', '--json', ...(values['chunk-batches'] ? ['--chunk-batches', values['chunk-batches']] : [])];
    const started = performance.now();
    const prune = await geoJson<{ tasksDeleted: number; batchesDeleted: number; statements: number; longestStatementMs: number; elapsedMs: number }>(
      pruneArgs,
      'geo-prune',
    );
    const pruneWallMs = performance.now() - started;
    const probeDuring = await probing.stop();
    const waits = await sampler.stop();
    const stillRunning = (await scalar(db, `SELECT count(*) FROM jobs WHERE job_id = $1 AND status = 'processing'`, [running.jobId])) === 1;
    const after = await sizes(db);
    await vacuum(db);
    const afterVacuum = await sizes(db);
    await stop(work);
    // VACUUM FULL takes an ACCESS EXCLUSIVE lock (it would stop geo work): only what the space is once given back.
    await vacuumFull(db);
    const afterVacuumFull = await sizes(db);
    return {
      tasks: n,
      cancel: { statementMs: cancel.statementMs, elapsedMs: cancel.elapsedMs, tasksMarkedCancelled: cancel.tasksCancelled, tasksThatRan: ran },
      prune: { ...prune, wallMs: Math.round(pruneWallMs), tasksPerSecond: Math.round(prune.tasksDeleted / (prune.elapsedMs / 1000)) },
      concurrentWork: {
        runningJobStillRunningAfterPrune: stillRunning,
        lockWaits: waits,
        probe: { before: probeBefore, duringPrune: probeDuring },
      },
      tableBytes: { cancelledJob, cancelledJobCompacted, beforePrune: before, afterPrune: after, afterVacuum, afterVacuumFull },
      postgres: await scalarText(db, 'SHOW server_version'),
      loadAverage: { atStart: loadAtStart, atEnd: os.loadavg() },
      cpus: os.cpus().length,
    };
  } finally {
    await db.end();
  }
}

/**
 * Samples pg_stat_activity for the geo work connections every sampleMs: the
 * longest run of consecutive samples a backend spent waiting on a heavyweight
 * lock (wait_event_type Lock), and how often each wait event was seen.
 */
function sampleWaits(connectionString: string) {
  const client = new pg.Client({ connectionString, application_name: 'bench-sampler' });
  let running = true;
  const events = new Map<string, number>();
  const waitingSince = new Map<number, { since: number; event: string }>();
  const longestLockWaitMs = new Map<string, number>();
  let samples = 0;
  const done = (async () => {
    await client.connect();
    while (running) {
      const { rows } = await client.query<{ pid: number; type: string | null; event: string | null; state: string }>(
        `SELECT pid, wait_event_type AS type, wait_event AS event, state FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'geo-work' AND state = 'active'`,
      );
      const now = performance.now();
      samples++;
      for (const row of rows) {
        const key = row.type ? `${row.type}:${row.event}` : 'running';
        events.set(key, (events.get(key) ?? 0) + 1);
        if (row.type === 'Lock') {
          const event = row.event ?? 'unknown';
          const waiting = waitingSince.get(row.pid);
          const since = waiting?.event === event ? waiting.since : now;
          waitingSince.set(row.pid, { since, event });
          longestLockWaitMs.set(event, Math.max(longestLockWaitMs.get(event) ?? 0, now - since));
        } else waitingSince.delete(row.pid);
      }
      for (const pid of [...waitingSince.keys()]) if (!rows.some((r) => r.pid === pid && r.type === 'Lock')) waitingSince.delete(pid);
      await new Promise((resolve) => setTimeout(resolve, sampleMs));
    }
    await client.end();
  })();
  return {
    async stop() {
      running = false;
      await done;
      const longest = Object.fromEntries([...longestLockWaitMs].map(([event, ms]) => [event, Math.round(ms)]));
      return {
        samples,
        sampleMs,
        longestLockWaitMsByEvent: longest,
        activeBackendSamplesByWaitEvent: Object.fromEntries([...events].sort((a, b) => b[1] - a[1])),
      };
    },
  };
}

/** Claims up to 50 tasks of the running job and completes them, as a worker does, timing each statement. */
async function probeOnce(db: pg.Pool, jobId: string, claims: number[], completes: number[]): Promise<void> {
  let t0 = performance.now();
  const { rows } = await db.query<{ task_id: string; claim: string }>(
    `SELECT task_id, claim::text AS claim FROM geo_claim_next('bench-probe', 50, interval '60 seconds', ARRAY['hello_world']) WHERE job_id = $1`,
    [jobId],
  );
  claims.push(performance.now() - t0);
  if (rows.length === 0) return;
  t0 = performance.now();
  await db.query(`SELECT count(*) FROM geo_complete_tasks($1::text[], $2::bigint[], $3::jsonb[])`, [
    rows.map((r) => r.task_id),
    rows.map((r) => r.claim),
    rows.map(() => '{"message": "probe"}'),
  ]);
  completes.push(performance.now() - t0);
}

async function probe(db: pg.Pool, jobId: string, ms: number) {
  const claims: number[] = [];
  const completes: number[] = [];
  for (const end = performance.now() + ms; performance.now() < end; ) await probeOnce(db, jobId, claims, completes);
  return { claimMs: stats(claims), completeMs: stats(completes) };
}

function probeUntil(db: pg.Pool, jobId: string) {
  const claims: number[] = [];
  const completes: number[] = [];
  let running = true;
  const done = (async () => {
    while (running) await probeOnce(db, jobId, claims, completes);
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { claimMs: stats(claims), completeMs: stats(completes) };
    },
  };
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => Math.round((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0) * 10) / 10;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) };
}

async function sizes(db: pg.Pool) {
  const { rows } = await db.query<{ tasks: string; batches: string; task_rows: string }>(
    `SELECT pg_total_relation_size('tasks') AS tasks, pg_total_relation_size('batches') AS batches, (SELECT count(*) FROM tasks) AS task_rows`,
  );
  return { tasks: Number(rows[0]!.tasks), batches: Number(rows[0]!.batches), taskRows: Number(rows[0]!.task_rows) };
}

async function vacuumFull(db: pg.Pool): Promise<void> {
  await db.query('VACUUM FULL tasks');
  await db.query('VACUUM FULL batches');
}

async function vacuum(db: pg.Pool): Promise<void> {
  await db.query('VACUUM (ANALYZE) tasks');
  await db.query('VACUUM (ANALYZE) batches');
}

async function scalar(db: pg.Pool, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await db.query(sql, params);
  return Number(Object.values(rows[0] ?? { v: 0 })[0] ?? 0);
}

async function scalarText(db: pg.Pool, sql: string): Promise<string> {
  const { rows } = await db.query(sql);
  return String(Object.values(rows[0]!)[0]);
}

function env(applicationName: string): NodeJS.ProcessEnv {
  const withName = new URL(url);
  withName.searchParams.set('application_name', applicationName);
  return { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: withName.toString(), GEO_HOME: geoHome };
}

function startGeo(args: string[], applicationName: string): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env: env(applicationName), stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.resume();
  children.push(child);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function geoJson<T>(args: string[], applicationName = 'geo'): Promise<T> {
  const child = spawn(process.execPath, [BIN, ...args], { env: env(applicationName), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`geo ${args.join(' ')} exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as T;
}

async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 200));
}

function note(text: string): void {
  process.stderr.write(`${new Date().toISOString()} ${text}\n`);
}
