import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { writeHoldingModules } from '../support/holding-job-type.js';
import { waitFor } from '../support/wait.js';

let db: TestDatabase;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-dead-workers-'));
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(dir, 'home'), GEO_LEASE_SECONDS: '600' };
  await writeHoldingModules(dir, `(p, ctx) => ({ i: p.i, attempt: ctx.attempt })`);
});
afterAll(async () => {
  await db.drop();
  await fs.rm(dir, { recursive: true, force: true });
});

const geo = (module: string, args: string[]) => [`--job-types`, path.join(dir, module), ...args];

async function statuses(jobId: string): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM tasks WHERE job_id = $1 GROUP BY 1 ORDER BY 1`, [
    jobId,
  ]);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

describe('dead workers and held tasks (real binary, local transport)', () => {
  it('after kill -9 of a geo work holding 200 tasks, retry-pending frees them at once (its session ended) and geo work finishes them', async () => {
    const submitted = await runGeo(geo('block.mjs', ['submit', 'holding', '--param', 'n=200', '--param', 'tag=killed', '--json']), env);
    expect(submitted.code, submitted.stderr).toBe(0);
    const { jobId } = parseJsonOutput<{ jobId: string }>(submitted);
    const worker = startGeo(geo('block.mjs', ['work', '--concurrency', '200']), env);
    await waitFor('the worker to hold every task', async () => ((await statuses(jobId)).processing === 200 ? true : undefined), {
      timeoutMs: 60_000,
    });
    worker.child.kill('SIGKILL');
    expect((await worker.done).signal).toBe('SIGKILL');
    // The leases are ten minutes long: only the ended session can free the tasks now.
    const swept = await runGeo(['retry-pending', '--json'], env);
    expect(swept.code, swept.stderr).toBe(0);
    const doc = parseJsonOutput<{ reapedSessions: Array<{ command: string; pid: number; freed: { tasks: number } }>; staleProcessingRequeued: number }>(swept);
    expect(doc.reapedSessions).toEqual([
      expect.objectContaining({ command: 'geo work', pid: worker.child.pid, freed: expect.objectContaining({ tasks: 200 }) }),
    ]);
    expect(doc.staleProcessingRequeued).toBe(200);
    expect(await statuses(jobId)).toEqual({ queued: 200 });

    const finished = await runGeo(geo('finish.mjs', ['work', '--until-idle', '--idle', '1s', '--json']), env);
    expect(finished.code, finished.stderr).toBe(0);
    expect(parseJsonOutput(finished)).toMatchObject({ completed: 200, heldByOthers: [] });
    expect(await statuses(jobId)).toEqual({ completed: 200 });
  }, 120_000);

  it('tasks a worker that is not geo holds: retry-pending and geo work --until-idle name the worker and when its lease ends, and exit 1', async () => {
    const submitted = await runGeo(geo('finish.mjs', ['submit', 'holding', '--param', 'n=20', '--param', 'tag=foreign', '--json']), env);
    const { jobId } = parseJsonOutput<{ jobId: string }>(submitted);
    // A Python Function's claims: the completion API called with its own worker name.
    await db.pool.query(
      `SELECT c.outcome FROM (SELECT task_id FROM tasks WHERE job_id = $1 ORDER BY task_id LIMIT 5) t,
              LATERAL geo_claim_task(t.task_id, 'fn-host-1', interval '10 minutes') c`,
      [jobId],
    );
    const { rows: lease } = await db.pool.query<{ until: Date }>(`SELECT max(lease_until) AS until FROM tasks WHERE job_id = $1 AND worker = 'fn-host-1'`, [
      jobId,
    ]);
    const until = lease[0]!.until.toISOString();

    const swept = await runGeo(['retry-pending', '--json'], env);
    expect(swept.code, swept.stderr).toBe(1);
    expect(parseJsonOutput<{ heldTasks: unknown[] }>(swept).heldTasks).toEqual([{ worker: 'fn-host-1', tasks: 5, leaseUntil: until }]);

    const worked = await runGeo(geo('finish.mjs', ['work', '--until-idle', '--idle', '1s', '--json']), env);
    expect(worked.code, worked.stderr).toBe(1);
    const doc = parseJsonOutput<{ completed: number; heldByOthers: unknown[] }>(worked);
    expect(doc.completed).toBe(15);
    expect(doc.heldByOthers).toEqual([{ worker: 'fn-host-1', tasks: 5, leaseUntil: until }]);
  }, 120_000);
});
