/**
 * `geo submit hello_world --n N` over Service Bus at the wire's pace: the
 * AMQP test peer runs in a process of its own (scripts/servicebus-peer.ts)
 * holding every transfer's settlement for 0, 20 and 200 ms, and every submit
 * runs on a fresh embedded database (a GEO_HOME of its own, started and
 * migrated before the clock starts). The same submit on the local transport
 * is the database floor. Prints per run the wall time, geo's CPU (user +
 * system, from /usr/bin/time), the peer's and PostgreSQL's CPU over the
 * submit (from /proc/<pid>/stat: the peer's process; the postmaster, its
 * children and the children it reaped) and the 1-minute load average at its
 * start; then the
 * medians. With --base, a second build runs in turn with this one (A B, then
 * B A), so both are measured under the same load. A benchmark, not a test.
 *
 *   npm run build && npx tsx scripts/servicebus-submit-bench.ts [--n 100000] [--runs 3] [--latencies 0,20,200] [--base /path/to/other/bin/geo.js] [--no-local]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { embeddedServerInfo } from '../src/store/embedded/server.js';
import { scratchHome } from './support/database.js';
import { run } from './support/run.js';
import { median, round } from './support/stats.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const QUEUE = 'geo-tasks-bench';
const TICKS_PER_SECOND = 100;

export interface ServiceBusSubmitRun {
  build: string;
  /** `local`, or the peer's added milliseconds per transfer. */
  path: string;
  run: number;
  wallMs: number;
  /** The command's own figure (`elapsedMs`: from the job's creation to the end of the dispatch). */
  elapsedMs: number;
  geoCpuSeconds: number;
  peerCpuSeconds?: number;
  postgresCpuSeconds: number;
  peakRssMb: number;
  load: number;
}

export interface ServiceBusSubmitDocument {
  n: number;
  runs: number;
  results: ServiceBusSubmitRun[];
  summary: Array<{
    build: string;
    path: string;
    wallMs: number;
    elapsedMs: number;
    geoCpuSeconds: number;
    peerCpuSeconds?: number;
    postgresCpuSeconds: number;
    loads: number[];
  }>;
}

/** Every path for every build, `runs` rounds; in each round the builds take turns, the order flipping round by round. */
export async function measureServiceBusSubmit(params: {
  n: number;
  runs: number;
  latencies: number[];
  local: boolean;
  builds: Array<{ name: string; bin: string }>;
  onResult?: (line: string) => void;
}): Promise<ServiceBusSubmitDocument> {
  const work = await scratchHome('geo-sb-submit-bench-');
  const paths = [...(params.local ? ['local'] : []), ...params.latencies.map(String)];
  const results: ServiceBusSubmitRun[] = [];
  try {
    for (const p of paths) {
      for (let round = 1; round <= params.runs; round++) {
        const order = round % 2 === 1 ? params.builds : [...params.builds].reverse();
        for (const build of order) {
          const measured = await submitOnce({ bin: build.bin, n: params.n, path: p, home: path.join(work, `home-${build.name}-${p}-${round}`) });
          const result: ServiceBusSubmitRun = { build: build.name, path: p, run: round, ...measured };
          results.push(result);
          params.onResult?.(describeRun(result));
        }
      }
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  const summary = paths.flatMap((p) =>
    params.builds.map((build) => {
      const rows = results.filter((r) => r.path === p && r.build === build.name);
      const peer = rows.map((r) => r.peerCpuSeconds).filter((s): s is number => s !== undefined);
      return {
        build: build.name,
        path: p,
        wallMs: median(rows.map((r) => r.wallMs)),
        elapsedMs: median(rows.map((r) => r.elapsedMs)),
        geoCpuSeconds: median(rows.map((r) => r.geoCpuSeconds)),
        peerCpuSeconds: peer.length > 0 ? median(peer) : undefined,
        postgresCpuSeconds: median(rows.map((r) => r.postgresCpuSeconds)),
        loads: rows.map((r) => r.load),
      };
    }),
  );
  return { n: params.n, runs: params.runs, results, summary };
}

function describeRun(r: ServiceBusSubmitRun): string {
  const where = r.path === 'local' ? 'local     ' : `sb ${r.path.padStart(3)} ms `;
  const peer = r.peerCpuSeconds !== undefined ? `  peer cpu ${r.peerCpuSeconds.toFixed(2)} s` : '';
  return `${where} run ${r.run} ${r.build.padEnd(5)} wall ${(r.wallMs / 1000).toFixed(2)} s (elapsedMs ${r.elapsedMs})  geo cpu ${r.geoCpuSeconds.toFixed(2)} s${peer}  postgres cpu ${r.postgresCpuSeconds.toFixed(2)} s  rss ${r.peakRssMb} MB  (load ${r.load.toFixed(2)})`;
}

export function describeServiceBusSubmit(doc: ServiceBusSubmitDocument): string {
  const lines = [`geo submit hello_world --n ${doc.n}, medians of ${doc.runs}:`];
  for (const s of doc.summary) {
    const where = s.path === 'local' ? 'local transport' : `Service Bus peer, ${s.path} ms a transfer`;
    const peer = s.peerCpuSeconds !== undefined ? `, peer cpu ${s.peerCpuSeconds.toFixed(2)} s` : '';
    lines.push(
      `  ${s.build.padEnd(5)} ${where.padEnd(34)} wall ${(s.wallMs / 1000).toFixed(2)} s, elapsedMs ${s.elapsedMs}, geo cpu ${s.geoCpuSeconds.toFixed(2)} s${peer}, postgres cpu ${s.postgresCpuSeconds.toFixed(2)} s (loads ${s.loads.map((l) => l.toFixed(1)).join(', ')})`,
    );
  }
  return lines.join('\n');
}

/**
 * One submit: a fresh embedded database in `home` and, for a Service Bus
 * path, a fresh peer process with that latency (both untimed), then the
 * submit under /usr/bin/time; then both are stopped and the folder removed.
 */
async function submitOnce(params: { bin: string; n: number; path: string; home: string }) {
  const env: Record<string, string | undefined> = { PATH: process.env.PATH, HOME: process.env.HOME, GEO_HOME: params.home };
  const peer = params.path === 'local' ? undefined : await startPeer(Number(params.path));
  try {
    await run(process.execPath, [params.bin, 'migrate'], env);
    if (peer) Object.assign(env, { GEO_TRANSPORT: 'servicebus', GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString, GEO_SERVICEBUS_QUEUE: QUEUE });
    else env.GEO_TRANSPORT = 'local';
    const timeFile = `${params.home}.time`;
    const load = os.loadavg()[0]!;
    const postmaster = Number((await fs.readFile(path.join((await embeddedServerInfo(params.home)).dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    const postgresBefore = await treeTicks(postmaster);
    const peerBefore = peer ? await cpuTicks(peer.child.pid!) : 0;
    const started = performance.now();
    const stdout = await run(
      '/usr/bin/time',
      ['-f', '%M %U %S', '-o', timeFile, process.execPath, params.bin, 'submit', 'hello_world', '--n', String(params.n), '--json'],
      env,
    );
    const wallMs = performance.now() - started;
    const peerAfter = peer ? await cpuTicks(peer.child.pid!) : 0;
    const postgresAfter = await treeTicks(postmaster);
    const doc = JSON.parse(stdout) as { queued: number; elapsedMs: number };
    if (doc.queued !== params.n) throw new Error(`${params.bin} on ${params.path}: ${doc.queued} queued, expected ${params.n}`);
    const [rss, user, system] = (await fs.readFile(timeFile, 'utf8')).trim().split('\n').at(-1)!.split(' ').map(Number);
    return {
      wallMs: Math.round(wallMs),
      elapsedMs: doc.elapsedMs,
      geoCpuSeconds: round(user! + system!, 2),
      peerCpuSeconds: peer ? round((peerAfter - peerBefore) / TICKS_PER_SECOND, 2) : undefined,
      postgresCpuSeconds: round((postgresAfter - postgresBefore) / TICKS_PER_SECOND, 2),
      peakRssMb: Math.round(rss! / 1024),
      load: round(load, 2),
    };
  } finally {
    await run(process.execPath, [params.bin, 'db', 'stop', '--force'], env).catch(() => undefined);
    await fs.rm(params.home, { recursive: true, force: true });
    await fs.rm(`${params.home}.time`, { force: true });
    await peer?.stop();
  }
}

/** The peer in a process of its own (tsx loaded in-process, so the pid is the peer's). */
async function startPeer(latencyMs: number): Promise<{ child: ChildProcess; connectionString: string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'scripts/servicebus-peer.ts'), '--port', '0', '--queue', QUEUE, '--latency', String(latencyMs)],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const connectionString = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`the Service Bus peer exited with ${code} before it listened`)));
  });
  return {
    child,
    connectionString,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Fields 3 on of /proc/<pid>/stat (after the command name, which may hold spaces), or undefined for a process gone. */
async function statFields(pid: number | string): Promise<string[] | undefined> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of a process so far, in clock ticks (fields 14 and 15). */
async function cpuTicks(pid: number): Promise<number> {
  const fields = await statFields(pid);
  return fields ? Number(fields[11]) + Number(fields[12]) : 0;
}

/** A server's CPU so far: its own, its live children's (backends, WAL writer, checkpointer) and its reaped children's (cutime + cstime, fields 16 and 17). */
async function treeTicks(pid: number): Promise<number> {
  const own = await statFields(pid);
  let ticks = own ? Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]) : 0;
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = await statFields(entry);
    if (fields && Number(fields[1]) === pid) ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const { values } = parseArgs({
    options: {
      n: { type: 'string', default: '100000' },
      runs: { type: 'string', default: '3' },
      latencies: { type: 'string', default: '0,20,200' },
      base: { type: 'string' },
      build: { type: 'string', default: path.join(ROOT, 'bin/geo.js') },
      'no-local': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const builds = [{ name: 'this', bin: path.resolve(values.build!) }, ...(values.base ? [{ name: 'base', bin: path.resolve(values.base) }] : [])];
  const doc = await measureServiceBusSubmit({
    n: Number(values.n),
    runs: Number(values.runs),
    latencies: values.latencies!.split(',').filter(Boolean).map(Number),
    local: !values['no-local'],
    builds,
    onResult: (text) => process.stderr.write(`${text}\n`),
  });
  process.stdout.write(values.json ? `${JSON.stringify(doc, null, 2)}\n` : `${describeServiceBusSubmit(doc)}\n`);
}
