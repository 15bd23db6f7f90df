import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/core/ids.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-hardening-unused') };
});
afterAll(async () => {
  await db.drop();
});

describe('task and batch ids carry 16 hex digits of the job id (real binary)', () => {
  it('a new job: every task and batch id starts with its first 16 hex digits; 8 characters still find the job', async () => {
    const result = await runGeo(['submit', 'hello_world', '--n', '250', '--param', 'name=wide', '--json'], env);
    expect(result.code, result.stderr).toBe(0);
    const jobId = parseJsonOutput<{ jobId: string }>(result).jobId;
    const prefix = jobId.slice(0, 16);
    expect(prefix).toMatch(/^[0-9a-f]{16}$/);
    const { rows } = await db.pool.query(
      `SELECT (SELECT count(*)::int FROM tasks WHERE job_id = $1) AS tasks,
              (SELECT count(*)::int FROM tasks WHERE job_id = $1 AND task_id ~ ('^' || $2 || '-s1-greet-[0-9]+$')) AS "wideTasks",
              (SELECT count(*)::int FROM batches WHERE job_id = $1) AS batches,
              (SELECT count(*)::int FROM batches WHERE job_id = $1 AND batch_id ~ ('^' || $2 || '-s1-b[0-9]+$')) AS "wideBatches"`,
      [jobId, prefix],
    );
    expect(rows[0]).toEqual({ tasks: 250, wideTasks: 250, batches: 3, wideBatches: 3 });
    const { rows: stored } = await db.pool.query('SELECT id_prefix FROM jobs WHERE job_id = $1', [jobId]);
    expect(stored[0]!.id_prefix).toBe(prefix);

    const byShortId = await runGeo(['batches', jobId.slice(0, 8), '--json'], env);
    expect(byShortId.code, byShortId.stderr).toBe(0);
    expect(parseJsonOutput<{ jobId: string }>(byShortId).jobId).toBe(jobId);
  });

  it('a job whose 16-hex prefix another job already uses: exit 2 ID_COLLISION, and no job, stage, batch or task row', async () => {
    const params = { n: 200, name: 'collides' };
    const jobId = jobIdFor('hello_world', params);
    const prefix = jobId.slice(0, 16);
    // Another job with the same first 16 hex digits (crafted: finding a real one takes 2^32 hashes).
    const other = prefix + (jobId.slice(16, 17) === 'f' ? '0' : 'f').repeat(48);
    await db.pool.query(
      `INSERT INTO jobs (job_id, job_type, parameters, processing_path, tasks_are_messages, id_prefix, stage_count)
       VALUES ($1, 'hello_world', '{"n": 1, "name": "crafted"}', 'local', true, $2, 2)`,
      [other, prefix],
    );
    const counts = async () =>
      (
        await db.pool.query(
          `SELECT (SELECT count(*)::int FROM jobs) AS jobs, (SELECT count(*)::int FROM stages) AS stages,
                  (SELECT count(*)::int FROM batches) AS batches, (SELECT count(*)::int FROM tasks) AS tasks,
                  (SELECT count(*)::int FROM jobs WHERE job_id = $1) AS "thisJob",
                  (SELECT count(*)::int FROM tasks WHERE task_id LIKE $2 || '%') AS "prefixedTasks"`,
          [jobId, prefix],
        )
      ).rows[0];
    const before = await counts();
    expect(before).toMatchObject({ thisJob: 0, prefixedTasks: 0 });

    const result = await runGeo(['submit', 'hello_world', '--n', '200', '--param', 'name=collides', '--json'], env);
    expect(result.code, result.stderr).toBe(2);
    const doc = parseJsonOutput<{ error: { code: string; message: string } }>(result);
    expect(doc.error.code).toBe('ID_COLLISION');
    expect(doc.error.message).toContain(prefix);
    expect(await counts()).toEqual(before);
  });
});
