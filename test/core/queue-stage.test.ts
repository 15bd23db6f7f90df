import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadJob } from '../../src/core/jobs.js';
import { queueStage } from '../../src/core/protocol/queue-stage.js';
import type { Pool } from '../../src/store/pool.js';
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

const options = { batchSize: 100, concurrency: 4, leaseSeconds: 30 };

/** What a consumer would do for stage 1: complete every greeting with its message. */
async function completeStage(pool: Pool, jobId: string, stage: number): Promise<void> {
  await pool.query(
    `UPDATE tasks SET status = 'completed', result = jsonb_build_object('message', parameters->>'message')
     WHERE job_id = $1 AND stage = $2`,
    [jobId, stage],
  );
  await pool.query(`UPDATE stages SET completed_count = task_count, status = 'completed' WHERE job_id = $1 AND stage = $2`, [jobId, stage]);
}

/** Completes some tasks of a stage (by index) with their message, counted on the stage, as workers would. */
async function completeTasks(pool: Pool, jobId: string, stage: number, indexes: number[]): Promise<void> {
  const { rowCount } = await pool.query(
    `UPDATE tasks SET status = 'completed', result = jsonb_build_object('message', parameters->>'message')
     WHERE job_id = $1 AND stage = $2 AND task_index = ANY($3::int[])`,
    [jobId, stage, indexes],
  );
  await pool.query(`UPDATE stages SET completed_count = completed_count + $3 WHERE job_id = $1 AND stage = $2`, [jobId, stage, rowCount]);
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('queue-stage', () => {
  it('refuses stage 2 while stage 1 is incomplete, naming the state, and writes nothing', async () => {
    const submitted = await submitHelloWorld(db.pool, createLocalProducer(), { n: 300, name: 'early' });
    const job = await loadJob(db.pool, submitted.jobId);
    await expect(queueStage({ db: db.pool, transport: createLocalProducer(), job, stage: 2, options })).rejects.toMatchObject({
      code: 'STAGE_INPUTS_NOT_READY',
      message: expect.stringMatching(/stage 1 is not complete \(0 of 300 tasks finished\).*--force/),
    });
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM tasks WHERE job_id = $1 AND stage = 2`, [job.jobId]);
    expect(rows[0].n).toBe(0);
  });

  it('with --force queues only the batches whose inputs are all complete, says what is not ready, and finishes later', async () => {
    const submitted = await submitHelloWorld(db.pool, createLocalProducer(), { n: 250, name: 'forced' });
    const job = await loadJob(db.pool, submitted.jobId);
    // Greetings 0-99 and 200-249 are done; 100-199 are not: batch 1 of stage 2 is not ready.
    await completeTasks(db.pool, submitted.jobId, 1, [...range(0, 100), ...range(200, 250)]);
    const forced = await queueStage({ db: db.pool, transport: createLocalProducer(), job, stage: 2, force: true, options });
    expect(forced).toMatchObject({ stage: 2, tasks: 250, queued: 150, notReady: 100, notWritten: 100, stageWritten: false });
    const built = await db.pool.query(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE parameters->>'greeting' IS NULL)::int AS missing
       FROM tasks WHERE job_id = $1 AND stage = 2`,
      [job.jobId],
    );
    // Never a task built from a missing input.
    expect(built.rows[0]).toEqual({ n: 150, missing: 0 });

    await completeTasks(db.pool, submitted.jobId, 1, range(100, 200));
    const rest = await queueStage({ db: db.pool, transport: createLocalProducer(), job, stage: 2, options });
    expect(rest).toMatchObject({ createdTasks: 100, queued: 250, notWritten: 0, stageWritten: true });
  });

  it('builds stage 2 from stage 1 results once stage 1 completed, and is idempotent', async () => {
    const submitted = await submitHelloWorld(db.pool, createLocalProducer(), { n: 1_234, name: 'Ada' });
    await completeStage(db.pool, submitted.jobId, 1);
    const job = await loadJob(db.pool, submitted.jobId.slice(0, 10));
    const first = await queueStage({ db: db.pool, transport: createLocalProducer(), job, stage: 2, options });
    expect(first).toMatchObject({ tasks: 1_234, batches: 13, queued: 1_234, createdTasks: 1_234 });
    const { rows } = await db.pool.query(`SELECT task_id, task_index, parameters FROM tasks WHERE job_id = $1 AND stage = 2 ORDER BY task_index`, [job.jobId]);
    expect(rows).toHaveLength(1_234);
    expect(rows.map((r) => r.task_index)).toEqual([...Array(1_234).keys()]);
    expect(rows[1_233]).toEqual({
      task_id: `${job.jobId.slice(0, 16)}-s2-reply-1233`,
      task_index: 1_233,
      parameters: { i: 1_233, greeting: 'Hello Ada from task 1233!' },
    });
    const second = await queueStage({ db: db.pool, transport: createLocalProducer(), job, stage: 2, options });
    expect(second).toMatchObject({ tasks: 1_234, queued: 1_234, createdTasks: 0 });
  });

  it('rejects an unknown stage, listing the stages', async () => {
    const submitted = await submitHelloWorld(db.pool, createLocalProducer(), { n: 1, name: 'stages' });
    const job = await loadJob(db.pool, submitted.jobId);
    await expect(queueStage({ db: db.pool, transport: createLocalProducer(), job, stage: 3, options })).rejects.toThrow(
      /hello_world has no stage 3; its stages: 1 \(greeting\), 2 \(reply\)/,
    );
  });

  it("refuses a transport other than the job's own", async () => {
    const submitted = await submitHelloWorld(db.pool, createLocalProducer(), { n: 1, name: 'mismatch' });
    const job = await loadJob(db.pool, submitted.jobId);
    await expect(queueStage({ db: db.pool, transport: new FakeTransport('servicebus'), job, stage: 1, options })).rejects.toMatchObject({
      code: 'TRANSPORT_MISMATCH',
    });
  });

  it('keeps the batch size of the first dispatch so batch ids stay stable', async () => {
    const submitted = await submitHelloWorld(db.pool, createLocalProducer(), { n: 120, name: 'size' }, { batchSize: 40 });
    const notices: string[] = [];
    const job = await loadJob(db.pool, submitted.jobId);
    const again = await queueStage({
      db: db.pool,
      transport: createLocalProducer(),
      job,
      stage: 1,
      options: { ...options, batchSize: 100, onNotice: (m) => notices.push(m) },
    });
    expect(again).toMatchObject({ batches: 3, createdTasks: 0 });
    expect(notices[0]).toMatch(/batch size 40/);
  });
});
