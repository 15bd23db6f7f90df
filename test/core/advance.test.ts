import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { advanceStages, UNKNOWN_TYPE_ATTEMPTS } from '../../src/core/advance.js';
import { jobStatus } from '../../src/core/job-status.js';
import { defineJobType } from '../../src/core/job-types/define.js';
import { getJobType, jobTypeNames, registerJobTypes } from '../../src/core/job-types/registry.js';
import { loadJob } from '../../src/core/jobs.js';
import { prepareJob } from '../../src/core/prepare-job.js';
import { submitJob } from '../../src/core/submit.js';
import { DependencyError } from '../../src/errors.js';
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
        getJobType(t.jobType)
          .stages.find((s) => s.taskType === t.taskType)!
          .handler(t.parameters, {
            taskId: t.taskId,
            jobId: t.jobId,
            stage: t.stage,
            attempt: t.attempt,
            signal: new AbortController().signal,
          }),
      ),
    );
    await tasksCompleteMany({
      db: pool,
      completions: ok.map((t, i) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify(results[i] ?? null) })),
    });
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

  it("a stage with a permanently failed task fails the job with that task's error and queues nothing after it", async () => {
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

/** Two stages whose own code throws where `breaks` says: the stage-2 builder for one result, or the job's result. */
const breaking = defineJobType({
  name: 'breaking_test',
  params: z.object({ n: z.coerce.number().int().min(1), breaks: z.enum(['task', 'result']), tag: z.string() }).strict(),
  stages: [
    {
      from: 'params',
      name: 'first',
      count: (p) => p.n,
      *tasks(p) {
        for (let i = 0; i < p.n; i++) yield { key: `f-${i}`, parameters: { i } };
      },
      handler: (p) => ({ i: p.i }),
    },
    {
      from: 'results',
      name: 'second',
      task: (outcome, p) => {
        if (p.breaks === 'task' && outcome.taskIndex === 150) throw new TypeError(`no second task for ${outcome.taskIndex}`);
        return { i: outcome.taskIndex };
      },
      handler: (p) => ({ i: p.i }),
    },
  ],
  result: (p) => {
    if (p.breaks === 'result') throw new Error('the summary went wrong');
    return { ok: true };
  },
});
registerJobTypes([{ jobType: breaking as never, origin: 'test/core/advance.test.ts' }]);

async function submitBreaking(breaks: 'task' | 'result', tag: string): Promise<string> {
  const result = await submitJob({
    db: db.pool,
    transport: createLocalProducer(),
    job: prepareJob('breaking_test', { n: 250, breaks, tag }),
    destination: { transport: 'local' },
    options: { batchSize: 100, concurrency: 2, leaseSeconds: 30 },
  });
  return result.jobId;
}

async function stageRows(jobId: string) {
  const { rows } = await db.pool.query(`SELECT stage, status, error FROM stages WHERE job_id = $1 ORDER BY stage`, [jobId]);
  return rows;
}

describe('advancement that cannot succeed ends the job', () => {
  it('a stage built from results whose task() throws: the job fails at once, the error kept on that stage, its written tasks cancelled', async () => {
    const jobId = await submitBreaking('task', 'task-throws');
    await work(db.pool);
    const done = (await advance()).filter((a) => a.jobId === jobId);
    expect(done).toEqual([expect.objectContaining({ jobId, stage: 1, action: 'job-failed', nextStage: 2 })]);
    expect(done[0]!.error).toMatchObject({ code: 'JOB_TYPE_FAILED', message: expect.stringContaining('no second task for 150') });
    expect(await stageRows(jobId)).toEqual([
      { stage: 1, status: 'completed', error: null },
      { stage: 2, status: 'failed', error: expect.stringContaining('task() threw: no second task for 150') },
    ]);
    const job = await db.pool.query(`SELECT status, errors FROM jobs WHERE job_id = $1`, [jobId]);
    expect(job.rows[0]).toMatchObject({ status: 'failed', errors: { stage: 2, code: 'JOB_TYPE_FAILED' } });
    // The batches written before the builder threw never run.
    const left = await db.pool.query(`SELECT status, count(*)::int AS n FROM tasks WHERE job_id = $1 AND stage = 2 GROUP BY 1`, [jobId]);
    expect(left.rows).toEqual([{ status: 'cancelled', n: 100 }]);
    expect((await advance()).filter((a) => a.jobId === jobId)).toEqual([]);
  });

  it('a job whose result() throws fails at once, with the error kept on its last stage', async () => {
    const jobId = await submitBreaking('result', 'result-throws');
    await work(db.pool);
    await advance();
    await work(db.pool);
    expect((await advance()).filter((a) => a.jobId === jobId)).toEqual([expect.objectContaining({ jobId, stage: 2, action: 'job-failed' })]);
    expect(await stageRows(jobId)).toEqual([
      { stage: 1, status: 'completed', error: null },
      { stage: 2, status: 'completed', error: expect.stringContaining('result() threw: the summary went wrong') },
    ]);
    expect((await db.pool.query(`SELECT status FROM jobs WHERE job_id = $1`, [jobId])).rows[0].status).toBe('failed');
  });

  it(`a job type no advancing process has: tried ${UNKNOWN_TYPE_ATTEMPTS} times over about a minute, then the job fails`, async () => {
    const { jobId } = await submitHelloWorld(db.pool, createLocalProducer(), { n: 10, name: 'ghost' });
    await work(db.pool);
    await db.pool.query(`UPDATE jobs SET job_type = 'ghost_type' WHERE job_id = $1`, [jobId]);
    const delays: number[] = [];
    for (let attempt = 1; attempt < UNKNOWN_TYPE_ATTEMPTS; attempt++) {
      const [tried] = (await advance()).filter((a) => a.jobId === jobId);
      expect(tried).toMatchObject({ jobId, stage: 1, action: 'retry-later', error: { code: 'UNKNOWN_JOB_TYPE' } });
      const { rows } = await db.pool.query(
        `SELECT extract(epoch FROM claimed_until - now()) AS wait, unknown_type_attempts AS n FROM stage_completions WHERE job_id = $1`,
        [jobId],
      );
      expect(rows[0].n).toBe(attempt);
      delays.push(Number(rows[0].wait));
      // Its time has come: as if the wait had passed.
      await db.pool.query(`UPDATE stage_completions SET claimed_until = now() - interval '1 second' WHERE job_id = $1`, [jobId]);
    }
    const total = delays.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(45);
    expect(total).toBeLessThan(75);
    expect((await advance()).filter((a) => a.jobId === jobId)).toEqual([
      expect.objectContaining({ jobId, stage: 1, action: 'job-failed', error: expect.objectContaining({ code: 'JOB_TYPE_UNAVAILABLE' }) }),
    ]);
    expect(await stageRows(jobId)).toEqual([
      { stage: 1, status: 'completed', error: expect.stringContaining('"ghost_type" was not loaded by any geo process') },
    ]);
  });

  it('a transient failure (the broker, the database) keeps the stage waiting with backoff, never failing the job', async () => {
    const { jobId } = await submitHelloWorld(db.pool, createLocalProducer(), { n: 10, name: 'transient' });
    await work(db.pool);
    const down = () =>
      advanceStages({
        db: db.pool,
        transportFor: async () => {
          throw new DependencyError('TRANSPORT_UNAVAILABLE', 'the broker is down');
        },
        options,
      });
    for (let attempt = 1; attempt <= UNKNOWN_TYPE_ATTEMPTS + 2; attempt++) {
      expect((await down()).filter((a) => a.jobId === jobId)).toEqual([
        expect.objectContaining({ jobId, action: 'retry-later', error: expect.objectContaining({ code: 'TRANSPORT_UNAVAILABLE' }) }),
      ]);
      await db.pool.query(`UPDATE stage_completions SET claimed_until = now() - interval '1 second' WHERE job_id = $1`, [jobId]);
    }
    expect((await db.pool.query(`SELECT status FROM jobs WHERE job_id = $1`, [jobId])).rows[0].status).toBe('processing');
    expect((await advance()).filter((a) => a.jobId === jobId)).toEqual([expect.objectContaining({ jobId, stage: 1, action: 'queued-next-stage' })]);
  });
});
