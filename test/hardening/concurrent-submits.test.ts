import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/core/ids.js';
import { TableBarrier } from '../support/barrier.js';
import { type CliResult, parseJsonOutput, startGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { PARTIAL_BATCHES_SQL } from '../support/servicebus-env.js';
import { taskStatusCounts } from '../support/submit.js';

const N = 50_000;
const TRIALS = 10;

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** The test database's URL with an application name, so pg_stat_activity tells the two submits apart. */
function urlFor(applicationName: string): string {
  const url = new URL(db.url);
  url.searchParams.set('application_name', applicationName);
  return url.toString();
}

interface SubmitDoc {
  jobId: string;
  tasks: number;
  queued: number;
  failed: number;
  pendingQueue: number;
  createdTasks: number;
}

/** What SQL holds for a job: every task once, every batch whole. */
async function storedTasks(jobId: string) {
  const { rows } = await db.pool.query<{ tasks: number; indexes: number; low: number; high: number; batches: number }>(
    `SELECT count(*)::int AS tasks, count(DISTINCT task_index)::int AS indexes, min(task_index) AS low, max(task_index) AS high,
            (SELECT count(*)::int FROM batches WHERE job_id = $1) AS batches
     FROM tasks WHERE job_id = $1`,
    [jobId],
  );
  const partial = await db.pool.query(PARTIAL_BATCHES_SQL, [jobId]);
  return { ...rows[0]!, partialBatches: partial.rows.length };
}

describe('two submits of one job at the same instant (real binary, local transport)', () => {
  it(`${TRIALS} trials at ${N.toLocaleString('en-US')} tasks: both exit 0, report the same counts, and SQL has each task once`, async () => {
    let bothWrote = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const name = `dual-${trial}`;
      const jobId = jobIdFor('hello_world', { n: N, name });
      const args = ['submit', 'hello_world', '--n', String(N), '--param', `name=${name}`, '--json'];
      const apps = [`hardening-${trial}-a`, `hardening-${trial}-b`];
      const barrier = await TableBarrier.hold(db.pool, 'batches');
      let results: CliResult[];
      const runs = apps.map((app) => startGeo(args, { DATABASE_URL: urlFor(app), GEO_HOME: path.join(os.tmpdir(), 'geo-hardening-unused') }));
      try {
        // Both processes are queued on the lock (their first read of batches) before either may go on.
        const ended: CliResult[] = [];
        for (const r of runs) void r.done.then((res) => ended.push(res));
        await barrier.waitForBlocked((blocked) => apps.every((app) => blocked.some((b) => b.applicationName === app)), {
          alive: () => {
            if (ended.length > 0) throw new Error(`a submit ended before the barrier opened: ${JSON.stringify(ended[0])}`);
          },
        });
        await barrier.release();
        results = await Promise.all(runs.map((r) => r.done));
      } finally {
        await barrier.release();
        // Only a failed trial leaves one running; a finished process ignores this.
        for (const r of runs) r.child.kill('SIGKILL');
      }
      const docs = results.map((r) => {
        expect(r.code, `trial ${trial}: ${r.stderr}`).toBe(0);
        return parseJsonOutput<SubmitDoc>(r);
      });
      for (const doc of docs) {
        expect(doc).toMatchObject({ jobId, tasks: N, queued: N, failed: 0, pendingQueue: 0 });
      }
      // Each task was written by exactly one of the two.
      expect(docs[0]!.createdTasks + docs[1]!.createdTasks).toBe(N);
      if (docs.every((d) => d.createdTasks > 0)) bothWrote++;
      expect(await storedTasks(jobId)).toEqual({ tasks: N, indexes: N, low: 0, high: N - 1, batches: N / 100, partialBatches: 0 });
      expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: N });
    }
    // The race the trials are about: in at least one, both processes wrote batches of the same stage.
    expect(bothWrote).toBeGreaterThan(0);
  }, 180_000);
});
