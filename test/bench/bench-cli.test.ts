import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Azurite, queueClientFor, startAzurite } from '../support/azurite.js';
import { type CliResult, parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { type ServiceBusPeer, startServiceBusPeer } from '../support/servicebus-peer/index.js';

let db: TestDatabase;
let peer: ServiceBusPeer;
let azurite: Azurite;
let base: Record<string, string>;

beforeAll(async () => {
  [db, peer, azurite] = await Promise.all([
    createTestDatabase(),
    startServiceBusPeer({ queues: { 'geo-tasks-bench': { duplicateDetection: true } } }),
    startAzurite(),
  ]);
  base = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-bench-cli-unused'), GEO_SERVICEBUS_TIMEOUT_MS: '5000' };
});
afterAll(async () => {
  await peer?.close();
  await azurite?.dispose();
  await db?.drop();
});

/** The part of a mode's figures these tests read; the rest is matched as a shape. */
type ModeFigures = { batches: number; latencyMs: { p50: number; samples: number } };

type Doc = {
  settings: Record<string, unknown>;
  machine: Record<string, unknown>;
  paths: Array<{ path: string; skipped?: unknown; speedup?: number; individual?: ModeFigures; aligned?: ModeFigures }>;
  failed: number;
  cleanup: { schemaDropped: boolean; messagesRemoved: number };
};

function benchDoc(result: CliResult): Doc {
  expect(result.code, result.stderr).toBe(0);
  const doc = parseJsonOutput<Doc>(result);
  expect(doc.machine).toMatchObject({ cpus: expect.any(Number), memoryGiB: expect.any(Number), node: process.version });
  expect(doc.failed).toBe(0);
  expect(doc.cleanup.schemaDropped).toBe(true);
  for (const p of doc.paths.filter((x) => !x.skipped)) {
    for (const mode of ['individual', 'aligned'] as const) {
      expect(p[mode]).toMatchObject({
        failed: 0,
        tasksPerSecond: expect.any(Number),
        totalMs: expect.any(Number),
        dbMs: expect.any(Number),
        queueMs: expect.any(Number),
        latencyMs: { p50: expect.any(Number), p95: expect.any(Number), max: expect.any(Number) },
      });
      expect(p[mode]!.latencyMs.samples).toBe(p[mode]!.batches);
    }
    expect(p.speedup).toBeGreaterThan(1);
  }
  return doc;
}

async function leftoverRows(): Promise<number> {
  const { rows } = await db.pool.query(`SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM tasks)
     + (SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'geo\\_bench\\_%') AS n`);
  return rows[0].n;
}

describe('geo bench (subprocess)', () => {
  it('local: both modes on the tasks table, aligned faster', async () => {
    const doc = benchDoc(await runGeo(['bench', '--path', 'local', '--n', '2000', '--individual-n', '200', '--json'], base));
    expect(doc.settings).toMatchObject({ n: 2000, individualN: 200, runs: 1, dbLatencyMs: 0 });
    expect(doc.paths).toHaveLength(1);
    expect(doc.paths[0]).toMatchObject({
      path: 'local',
      individual: { tasks: 200, queueMs: 0 },
      aligned: { tasks: 2000, batches: 20 },
    });
    expect(await leftoverRows()).toBe(0);
  });

  it('servicebus behind simulated latency: sends to the bench queue and drains it afterwards', async () => {
    const env = { ...base, GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString() };
    const latency = ['--db-latency', '2', '--queue-latency', '10'];
    const args = ['bench', '--path', 'servicebus', '--n', '500', '--individual-n', '60', ...latency, '--json'];
    const doc = benchDoc(await runGeo(args, env));
    const [sb] = doc.paths;
    expect(sb).toMatchObject({ path: 'servicebus', queue: 'geo-tasks-bench', messagesRemoved: 560, aligned: { queueCalls: 5 } });
    // Each individual task waits for a database and a broker round trip at least.
    expect(sb!.individual!.latencyMs.p50).toBeGreaterThanOrEqual(12);
    expect(doc.settings).toMatchObject({ dbLatencyMs: 2, queueLatencyMs: 10 });
    expect(peer.queue('geo-tasks-bench').activeCount()).toBe(0);
    expect(await leftoverRows()).toBe(0);
  });

  it('storage-queue: creates and clears its own queue', async () => {
    const env = { ...base, GEO_STORAGE_CONNECTION_STRING: azurite.connectionString, GEO_STORAGE_QUEUE: 'tasks' };
    // One batch in flight: Azurite, one Node process, stalls with hundreds of concurrent sends.
    const args = ['bench', '--path', 'storage-queue', '--n', '300', '--individual-n', '60', '--concurrency', '1', '--json'];
    const doc = benchDoc(await runGeo(args, env));
    expect(doc.paths[0]).toMatchObject({ path: 'storage-queue', queue: 'tasks-bench', messagesRemoved: 360 });
    const props = await queueClientFor(azurite, 'tasks-bench').getProperties();
    expect(props.approximateMessagesCount).toBe(0);
  });

  it('--path all skips what is not configured', async () => {
    const doc = benchDoc(await runGeo(['bench', '--n', '300', '--individual-n', '30', '--json'], base));
    expect(doc.paths.map((p) => [p.path, p.skipped])).toEqual([
      ['local', undefined],
      ['servicebus', expect.stringMatching(/not configured \(GEO_SERVICEBUS_CONNECTION_STRING/)],
      ['storage-queue', expect.stringMatching(/not configured \(GEO_STORAGE_CONNECTION_STRING/)],
    ]);
  });

  it('refuses, with exit 2 and nothing written, a bench queue that is the task queue or latency before a remote server', async () => {
    const sbEnv = { ...base, GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString() };
    const sameQueue = await runGeo(['bench', '--path', 'servicebus', '--queue', 'geo-tasks', '--json'], sbEnv);
    expect(sameQueue.code).toBe(2);
    expect(parseJsonOutput(sameQueue)).toMatchObject({ error: { code: 'BENCH_QUEUE_IS_TASK_QUEUE' } });

    const remoteDb = { ...base, DATABASE_URL: 'postgresql://u@db.example.com/geo' };
    const remote = await runGeo(['bench', '--path', 'local', '--db-latency', '5'], remoteDb);
    expect(remote.code).toBe(2);
    expect(remote.stderr).toMatch(/its latency is real; leave --db-latency out/);

    const missing = await runGeo(['bench', '--path', 'servicebus', '--queue', 'nope'], sbEnv);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/create Service Bus queue nope, or name another with --queue/);
    expect(await leftoverRows()).toBe(0);
  });
});
