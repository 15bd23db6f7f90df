/**
 * Side-by-side throughput of two geo builds on identical work: alternates
 * `geo submit hello_world --n N` between build A and build B (each a path to
 * its bin/geo.js), on the local transport and on the Service Bus test peer,
 * each build in a database of its own on one embedded PostgreSQL, and prints
 * every run and the medians. A benchmark, not a test.
 *
 *   npx tsx scripts/ab-submit.ts --a /path/to/old/bin/geo.js --b bin/geo.js [--n 100000] [--runs 5]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ensureEmbeddedServer, stopEmbeddedServer } from '../src/store/embedded/server.js';
import { startServiceBusPeer } from '../test/support/servicebus-peer/index.js';
import { scratchHome } from './support/database.js';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string', default: 'bin/geo.js' },
    n: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '5' },
  },
});
if (!values.a) throw new Error('--a <path to the other build bin/geo.js> is required');
const builds = { A: path.resolve(values.a), B: path.resolve(values.b!) };
const n = Number(values.n);
const runs = Number(values.runs);

const home = await scratchHome('geo-ab-');
const server = await ensureEmbeddedServer({ home });
const peer = await startServiceBusPeer({ queues: { 'ab-tasks': {} } });
const urls: Record<string, string> = {};
for (const name of Object.keys(builds)) {
  const admin = new pg.Client({ connectionString: server.connectionString });
  await admin.connect();
  await admin.query(`CREATE DATABASE ab_${name.toLowerCase()}`);
  await admin.end();
  const url = new URL(server.connectionString);
  url.pathname = `/ab_${name.toLowerCase()}`;
  urls[name] = url.toString();
}

function submit(build: keyof typeof builds, transport: string, tag: string): Promise<number> {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: urls[build],
    GEO_TRANSPORT: transport,
    GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString(),
    GEO_SERVICEBUS_QUEUE: 'ab-tasks',
  };
  const args = [builds[build], 'submit', 'hello_world', '--n', String(n), '--param', `name=${tag}`, '--json'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`build ${build} exited ${code}: ${out}`));
      resolve(Number(JSON.parse(out).elapsedMs));
    });
  });
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
try {
  for (const transport of ['local', 'servicebus']) {
    const times: Record<string, number[]> = { A: [], B: [] };
    for (let r = 0; r < runs; r++) {
      // Alternate which build goes first, so a machine that slows down hurts both alike.
      for (const build of (r % 2 === 0 ? ['A', 'B'] : ['B', 'A']) as Array<keyof typeof builds>) {
        const ms = await submit(build, transport, `${transport}-${build}-${r}`);
        times[build]!.push(ms);
        console.log(`${transport} run ${r + 1} ${build}: ${ms} ms (${Math.round((n / ms) * 1000)} tasks/s)`);
      }
    }
    const a = median(times.A!);
    const b = median(times.B!);
    console.log(
      `${transport}: median A ${a} ms, B ${b} ms; B/A = ${(b / a).toFixed(3)} (tasks/s A ${Math.round((n / a) * 1000)}, B ${Math.round((n / b) * 1000)})`,
    );
  }
} finally {
  await peer.close();
  await stopEmbeddedServer(home, { force: true });
  await fs.rm(home, { recursive: true, force: true });
}
