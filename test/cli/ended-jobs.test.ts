import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { jobIdFor } from '../../src/core/ids.js';
import { tasksClaimNext, tasksCompleteMany, tasksFail } from '../../src/store/completion.js';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

// One database for this file, and the tests in this order: each one's jobs are the only work there.
let db: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-ended-test-unused') };
});
afterAll(async () => {
  await db.drop();
});

async function jobStatusOf(jobId: string): Promise<string> {
  const { rows } = await db.pool.query('SELECT status FROM jobs WHERE job_id = $1', [jobId]);
  return rows[0].status;
}

describe('submit and queue-stage say what state the job is in', () => {
  it('resubmitting a completed job, or queue-stage on one, says the job has completed; --json has its status', async () => {
    const args = ['submit', 'hello_world', '--n', '30', '--param', 'name=ended'];
    const jobId = String(parseJsonOutput(await runGeo([...args, '--json'], env)).jobId);
    const worked = await runGeo(['work', '--until-idle', '--idle', '1s', '--json'], env);
    expect(worked.code, worked.stderr).toBe(0);
    // The case named: the job really has completed.
    expect(await jobStatusOf(jobId)).toBe('completed');

    const again = await runGeo(args, env);
    expect(again.code).toBe(0);
    expect(again.stdout.split('\n').slice(1, 4)).toEqual([
      '  hello_world stage 1 (greeting) already submitted via local',
      `  the job has completed (geo results ${jobId.slice(0, 12)} prints its results)`,
      '  30 tasks in 1 batch: 30 queued, 0 pending_queue, 0 failed',
    ]);
    expect(parseJsonOutput(await runGeo([...args, '--json'], env))).toMatchObject({ jobId, jobStatus: 'completed' });
    for (const stage of ['1', '2']) {
      const queued = await runGeo(['queue-stage', jobId.slice(0, 12), stage], env);
      expect(queued.code).toBe(0);
      expect(queued.stdout).toContain(`\n  the job has completed (geo results ${jobId.slice(0, 12)} prints its results)\n`);
      expect(parseJsonOutput(await runGeo(['queue-stage', jobId.slice(0, 12), stage, '--json'], env))).toMatchObject({ jobStatus: 'completed' });
    }
  });

  it('queue-stage on a failed job says the job has failed; on a job still running it says nothing of the kind', async () => {
    const jobId = String(parseJsonOutput(await runGeo(['submit', 'hello_world', '--n', '3', '--param', 'name=failing', '--json'], env)).jobId);
    const running = await runGeo(['queue-stage', jobId.slice(0, 12), '1', '--json'], env);
    expect(parseJsonOutput(running)).toMatchObject({ jobStatus: 'processing' });
    expect((await runGeo(['queue-stage', jobId.slice(0, 12), '1'], env)).stdout).not.toContain('the job has');

    const claimed = await tasksClaimNext({ db: db.pool, worker: 'ended-test', maxTasks: 100, leaseSeconds: 60, jobTypes: ['hello_world'] });
    expect(claimed.map((t) => t.taskId.slice(0, 16))).toEqual([jobId.slice(0, 16), jobId.slice(0, 16), jobId.slice(0, 16)]);
    await tasksFail({ db: db.pool, taskId: claimed[0]!.taskId, claim: claimed[0]!.claim, error: 'refused', retryable: false });
    await tasksCompleteMany({
      db: db.pool,
      completions: claimed.slice(1).map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({ message: 'hi' }) })),
    });
    expect((await runGeo(['retry-pending', '--job', jobId.slice(0, 12)], env)).code).toBe(0);
    expect(await jobStatusOf(jobId)).toBe('failed');

    const queued = await runGeo(['queue-stage', jobId.slice(0, 12), '1'], env);
    expect(queued.stdout).toContain(`\n  the job has failed (geo status ${jobId.slice(0, 12)} shows why)\n`);
    expect(parseJsonOutput(await runGeo(['queue-stage', jobId.slice(0, 12), '1', '--json'], env))).toMatchObject({ jobStatus: 'failed' });
  });

  it('an interrupted submit says so in its first line, not "submitted"', async () => {
    const name = 'interrupted';
    const { child, done } = startGeo(['submit', 'hello_world', '--n', '3000000', '--param', `name=${name}`], env);
    const jobId = jobIdFor('hello_world', { n: 3_000_000, name });
    await vi.waitFor(
      async () => {
        const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM batches WHERE job_id = $1', [jobId]);
        expect(rows[0].n).toBeGreaterThan(0);
      },
      { timeout: 30_000, interval: 50 },
    );
    child.kill('SIGTERM');
    const result = await done;
    expect(result.signal).toBe('SIGTERM');
    const lines = result.stdout.split('\n');
    expect(lines[1]).toBe('  hello_world stage 1 (greeting) interrupted while submitting via local');
    expect(lines).toContain('  stopped: interrupted');
    expect(result.stdout).not.toContain('submitted via');
  });
});
