import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBenchEnvironment } from '../../src/bench/environment.js';
import { type BenchResult, runBench } from '../../src/bench/run.js';
import { loadConfig } from '../../src/config/index.js';
import { benchTablesClear } from '../../src/store/bench.js';
import { createLocalProducer } from '../../src/transports/local.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { FakeTransport } from '../support/fake-transport.js';
import { submitHelloWorld } from '../support/submit.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** Every row of geo's tables in the public schema, as text: what a bench must leave exactly as it was. */
async function publicSnapshot(): Promise<string> {
  const { rows } = await db.pool.query(`
    SELECT (SELECT string_agg(t::text, '|' ORDER BY job_id) FROM public.jobs t) AS jobs,
           (SELECT string_agg(t::text, '|' ORDER BY job_id, stage) FROM public.stages t) AS stages,
           (SELECT string_agg(t::text, '|' ORDER BY batch_id) FROM public.batches t) AS batches,
           (SELECT string_agg(t::text, '|' ORDER BY task_id) FROM public.tasks t) AS tasks`);
  return JSON.stringify(rows[0]);
}

async function benchSchemas(): Promise<string[]> {
  const { rows } = await db.pool.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'geo\\_bench\\_%'`);
  return rows.map((r) => r.nspname as string);
}

describe('bench isolation and clean-up', () => {
  it('measures in a schema of its own, drops it, and leaves every real row as it was', async () => {
    await submitHelloWorld(db.pool, createLocalProducer(), { n: 1_234, name: 'real' });
    // A schema a crashed bench left behind (nobody holds its lock): swept by the next bench.
    await db.pool.query('CREATE SCHEMA geo_bench_deadbeef00; CREATE TABLE geo_bench_deadbeef00.tasks (id int)');
    const before = await publicSnapshot();

    const config = loadConfig({ DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-bench-test-unused') });
    const env = await openBenchEnvironment({
      config,
      paths: ['local'],
      skipUnconfigured: false,
      dbLatencyMs: 0,
      queueLatencyMs: 0,
      poolSize: 4,
    });
    let result!: BenchResult;
    const sent = new FakeTransport('servicebus');
    let resets = 0;
    try {
      expect(await benchSchemas()).toEqual([env.schema]);
      const { rows } = await env.db.query('SELECT current_schema() AS s');
      expect(rows[0].s).toBe(env.schema);
      result = await runBench({
        db: env.db,
        // The fake stands in for a broker so that the send path (steps 2 and 3) is timed too.
        paths: [
          ...env.paths,
          {
            path: 'servicebus',
            transport: sent,
            queue: 'fake',
            reset: async (n) => {
              resets++;
              return n;
            },
          },
        ],
        settings: { n: 450, individualN: 60, runs: 2, concurrency: 2, batchSize: 100, leaseSeconds: 30 },
        nonce: env.nonce,
      });
      // Between runs the bench tables are emptied.
      const left = await env.db.query('SELECT (SELECT count(*) FROM tasks) + (SELECT count(*) FROM jobs) AS n');
      expect(left.rows[0].n).toBe(0);
    } finally {
      expect(await env.close()).toEqual({ schemaDropped: true });
    }

    expect(await benchSchemas()).toEqual([]);
    expect(await publicSnapshot()).toBe(before);
    const stray = await db.pool.query(`SELECT count(*)::int AS n FROM public.jobs WHERE job_type LIKE 'bench-%'`);
    expect(stray.rows[0].n).toBe(0);

    expect(result.failed).toBe(0);
    for (const path of result.paths) {
      expect(path.individual).toMatchObject({ tasks: 60, queued: 60, failed: 0, batches: 60 });
      expect(path.aligned).toMatchObject({ tasks: 450, queued: 450, failed: 0, batches: 5 });
      // One latency sample per unit: per task (individual), per batch (aligned).
      expect(path.individual!.latencyMs.samples).toBe(60);
      expect(path.aligned!.latencyMs.samples).toBe(5);
      expect(path.aligned!.runsTasksPerSecond).toHaveLength(2);
      expect(path.aligned!.dbCalls).toBeGreaterThan(0);
    }
    const fake = result.paths.find((p) => p.path === 'servicebus')!;
    expect(fake.individual!.queueCalls).toBe(60);
    expect(fake.aligned!.queueCalls).toBe(5);
    expect(fake.aligned!.queueMs).toBeGreaterThan(0);
    expect(sent.sentTaskIds()).toHaveLength(2 * (60 + 450));
    expect(resets).toBe(4);
    expect(result.paths[0]).toMatchObject({ path: 'local' });
    expect(result.paths[0]!.aligned!.queueMs).toBe(0);
  });

  it('never empties tables outside a bench schema', async () => {
    await expect(benchTablesClear(db.pool)).rejects.toThrow(/refusing to clear tables outside a bench schema/);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM public.tasks');
    expect(rows[0].n).toBeGreaterThan(0);
  });
});
