import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advanceStages } from '../../src/core/advance.js';
import { jobStatus } from '../../src/core/job-status.js';
import { getJobType, jobTypeNames } from '../../src/core/job-types/registry.js';
import { loadJob } from '../../src/core/jobs.js';
import { tasksClaimNext, tasksCompleteMany, tasksFail } from '../../src/store/completion.js';
import type { Pool } from '../../src/store/pool.js';
import { createLocalProducer } from '../../src/transports/local.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { submitHelloWorld } from '../support/submit.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const options = { leaseSeconds: 30, concurrency: 2, batchSize: 100 };
const advance = () => advanceStages({ db: db.pool, transportFor: async () => createLocalProducer(), options });

/** Works the local queue the way geo work does, with the job types' own handlers, until it is empty. */
async function work(pool: Pool, fail?: (taskId: string) => boolean): Promise<void> {
  for (;;) {
    const claimed = await tasksClaimNext({ db: pool, worker: 'test', maxTasks: 500, leaseSeconds: 30, jobTypes: jobTypeNames() });
    if (claimed.length === 0) return;
    const ok = claimed.filter((t) => !fail?.(t.taskId));
    for (const t of claimed.filter((t) => fail?.(t.taskId))) {
      await tasksFail({ db: pool, taskId: t.taskId, claim: t.claim, error: `no greeting for ${t.taskId}`, retryable: false });
    }
    const results = await Promise.all(
      ok.map(async (t) =>
        getJobType(t.jobType).stages.find((s) => s.taskType === t.taskType)!.handler(t.parameters, {
          taskId: t.taskId,
          jobId: t.jobId,
          stage: t.stage,
          attempt: t.attempt,
          signal: new AbortController().signal,
        }),
      ),
    );
    await tasksCompleteMany({ db: pool, completions: ok.map((t, i) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify(results[i] ?? null) })) });
  }
}

describe('stage advancement', () => {
  it('queues stage 2 from stage 1 results once stage 1 finished, then completes the job after stage 2', async () => {
    const { jobId } = await submitHelloWorld(db.pool, createLocalProducer(), { n: 250, name: 'advance' });
    expect(await advance()).toEqual([]);
    await work(db.pool);
    const first = await advance();
    expect(first).toEqual([expect.objectContaining({ jobId, stage: 1, action: 'queued-next-stage', nextStage: 2, queuedTasks: 250 })]);
    const replies = await db.pool.query(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE parameters->>'greeting' LIKE 'Hello advance from task %')::int AS built
       FROM tasks WHERE job_id = $1 AND stage = 2`,
      [jobId],
    );
    expect(replies.rows[0]).toEqual({ n: 250, built: 250 });
    await work(db.pool);
    expect(await advance()).toEqual([expect.objectContaining({ jobId, stage: 2, action: 'job-completed' })]);
    const status = await jobStatus(db.pool, await loadJob(db.pool, jobId));
    expect(status).toMatchObject({ status: 'completed', currentStage: 2 });
    expect(status.stages.map((s) => [s.stage, s.status, s.completed, s.failed])).toEqual([
      [1, 'completed', 250, 0],
      [2, 'completed', 250, 0],
    ]);
    // Handled once: nothing left to advance.
    expect(await advance()).toEqual([]);
  });

  it('a stage with a permanently failed task fails the job with that task\'s error and queues nothing after it', async () => {
    const { jobId } = await submitHelloWorld(db.pool, createLocalProducer(), { n: 120, name: 'fails' });
    await work(db.pool, (taskId) => taskId.endsWith('-greet-7'));
    expect(await advance()).toEqual([expect.objectContaining({ jobId, stage: 1, action: 'job-failed' })]);
    const job = await db.pool.query(`SELECT status, errors FROM jobs WHERE job_id = $1`, [jobId]);
    expect(job.rows[0].status).toBe('failed');
    expect(job.rows[0].errors).toEqual({ stage: 1, tasks: [{ taskId: expect.stringMatching(/-s1-greet-7$/), error: expect.stringMatching(/no greeting/) }] });
    const stage2 = await db.pool.query(`SELECT count(*)::int AS n FROM stages WHERE job_id = $1 AND stage = 2`, [jobId]);
    expect(stage2.rows[0].n).toBe(0);
    const status = await jobStatus(db.pool, await loadJob(db.pool, jobId));
    expect(status.errors).toEqual([{ taskId: expect.stringMatching(/-s1-greet-7$/), error: expect.stringMatching(/no greeting/) }]);
  });

  it('two advancers at once handle a finished stage once: stage 2 is written once', async () => {
    const { jobId } = await submitHelloWorld(db.pool, createLocalProducer(), { n: 1_000, name: 'twice' });
    await work(db.pool);
    const [a, b] = await Promise.all([advance(), advance()]);
    expect([...a!, ...b!].filter((x) => x.jobId === jobId && x.stage === 1)).toHaveLength(1);
    const tasks = await db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT task_id)::int AS d FROM tasks WHERE job_id = $1 AND stage = 2`, [jobId]);
    expect(tasks.rows[0]).toEqual({ n: 1_000, d: 1_000 });
  });
});
