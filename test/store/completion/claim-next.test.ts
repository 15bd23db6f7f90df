import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tasksClaimNext as claimNext, tasksClaim, tasksFail } from '../../../src/store/completion.js';
import type { Queryable } from '../../../src/store/pool.js';
import { tasksRequeueLapsed } from '../../../src/store/redeliveries.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { createJob, createStage, lapseLease, taskState } from './fixtures.js';

/** geo_claim_next for hello_world, the fixtures' job type (the worker's own filter is tested apart). */
const tasksClaimNext = (params: { db: Queryable; worker: string; maxTasks: number; leaseSeconds: number; jobTypes?: string[] }) =>
  claimNext({ jobTypes: ['hello_world'], ...params });

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
// geo_claim_next serves every local job in the database: each test starts from an empty queue.
beforeEach(async () => {
  await db.pool.query('TRUNCATE jobs, stages, batches, tasks, stage_completions, redeliveries');
});

async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('geo_claim_next', () => {
  it('claims ready tasks of local jobs for the worker, with everything a handler needs', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 3 });
    const claimed = await tasksClaimNext({ db: db.pool, worker: 'local-1', maxTasks: 10, leaseSeconds: 30 });
    expect(claimed.map((t) => t.taskId).sort()).toEqual([...taskIds].sort());
    expect(claimed.find((t) => t.taskId === taskIds[2])).toEqual({
      taskId: taskIds[2],
      jobId,
      jobType: 'hello_world',
      stage: 1,
      batchId: `${jobId.slice(0, 16)}-s1-b0`,
      taskType: 'work',
      parameters: { i: 2 },
      claim: expect.stringMatching(/^\d+$/),
      attempt: 1,
    });
    expect(await taskState(db.pool, taskIds[0]!)).toMatchObject({ status: 'processing', worker: 'local-1', attempt: 1 });
    expect(await tasksClaimNext({ db: db.pool, worker: 'local-2', maxTasks: 10, leaseSeconds: 30 })).toEqual([]);
  });

  it('takes at most max_tasks', async () => {
    await createStage(db.pool, { taskCount: 25 });
    expect(await tasksClaimNext({ db: db.pool, worker: 'w', maxTasks: 10, leaseSeconds: 30 })).toHaveLength(10);
    expect(await tasksClaimNext({ db: db.pool, worker: 'w', maxTasks: 100, leaseSeconds: 30 })).toHaveLength(15);
  });

  it('skips the tasks of jobs on other transports, which their broker delivers', async () => {
    const local = await createStage(db.pool, { taskCount: 2 });
    const servicebus = await createStage(db.pool, { taskCount: 5, transport: 'servicebus', taskStatus: 'queued' });
    const storage = await createStage(db.pool, { taskCount: 5, transport: 'storage-queue', taskStatus: 'queued' });
    // A broker task in retry wait that is due looks ready too.
    await db.pool.query(`UPDATE tasks SET available_at = now() - interval '1 minute' WHERE task_id = $1`, [servicebus.taskIds[0]]);
    const claimed = await tasksClaimNext({ db: db.pool, worker: 'w', maxTasks: 100, leaseSeconds: 30 });
    expect(claimed.map((t) => t.taskId).sort()).toEqual([...local.taskIds].sort());
    for (const taskId of [...servicebus.taskIds, ...storage.taskIds]) expect((await taskState(db.pool, taskId)).status).toBe('queued');
  });

  it('leaves a retry until its available_at and takes it once due, as the next attempt', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 2, retryBaseMs: 3_600_000, retryMaxMs: 3_600_000 });
    const [later, due] = [taskIds[0]!, taskIds[1]!];
    for (const taskId of taskIds) {
      const claim = await tasksClaim({ db: db.pool, taskId, worker: 'w', leaseSeconds: 30 });
      expect((await tasksFail({ db: db.pool, taskId, claim: claim.claim!, error: 'flaky', retryable: true })).outcome).toBe('retry');
    }
    expect(await tasksClaimNext({ db: db.pool, worker: 'w', maxTasks: 10, leaseSeconds: 30 })).toEqual([]);
    await db.pool.query(`UPDATE tasks SET available_at = now() - interval '1 second' WHERE task_id = $1`, [due]);
    const claimed = await tasksClaimNext({ db: db.pool, worker: 'w', maxTasks: 10, leaseSeconds: 30 });
    expect(claimed.map((t) => [t.taskId, t.attempt])).toEqual([[due, 2]]);
    expect((await taskState(db.pool, later)).status).toBe('queued');
  });

  it("takes a dead worker's task once the sweep put its lapsed claim back, as a new attempt; never a live one", async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2 });
    const [lapsed, live] = [taskIds[0]!, taskIds[1]!];
    await tasksClaimNext({ db: db.pool, worker: 'dead', maxTasks: 10, leaseSeconds: 300 });
    await lapseLease(db.pool, lapsed);
    expect(await tasksClaimNext({ db: db.pool, worker: 'alive', maxTasks: 10, leaseSeconds: 30 })).toEqual([]);
    expect(await tasksRequeueLapsed(db.pool, { limit: 10, jobId })).toEqual({ requeued: 1, failed: 0, cancelled: 0 });
    const claimed = await tasksClaimNext({ db: db.pool, worker: 'alive', maxTasks: 10, leaseSeconds: 30 });
    expect(claimed.map((t) => [t.taskId, t.attempt])).toEqual([[lapsed, 2]]);
    expect(await taskState(db.pool, lapsed)).toMatchObject({ status: 'processing', worker: 'alive', attempt: 2 });
    expect(await taskState(db.pool, live)).toMatchObject({ status: 'processing', worker: 'dead', attempt: 1 });
  });

  it('skips tasks another transaction has locked instead of waiting for them', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 4 });
    const locked = taskIds.slice(0, 2);
    await withClient(async (holder) => {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM tasks WHERE task_id = ANY($1) FOR UPDATE', [locked]);
      const claimed = await withClient(async (worker) => {
        // Waiting on the held rows would end in this error rather than an answer.
        await worker.query(`SET lock_timeout = '5s'`);
        return tasksClaimNext({ db: worker, worker: 'w', maxTasks: 10, leaseSeconds: 30 });
      });
      expect(claimed.map((t) => t.taskId).sort()).toEqual(taskIds.slice(2).sort());
      await holder.query('ROLLBACK');
    });
    expect((await tasksClaimNext({ db: db.pool, worker: 'w', maxTasks: 10, leaseSeconds: 30 })).map((t) => t.taskId).sort()).toEqual([...locked].sort());
  });

  it('gives eight concurrent workers disjoint tasks that together are all of them', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1_000 });
    const clients = await Promise.all(Array.from({ length: 8 }, () => db.pool.connect()));
    try {
      const taken: string[] = [];
      await Promise.all(
        clients.map(async (client, i) => {
          for (;;) {
            const claimed = await tasksClaimNext({ db: client, worker: `w${i}`, maxTasks: 25, leaseSeconds: 30 });
            if (claimed.length === 0) return;
            taken.push(...claimed.map((t) => t.taskId));
          }
        }),
      );
      expect(taken).toHaveLength(1_000);
      expect(new Set(taken)).toEqual(new Set(taskIds));
    } finally {
      for (const client of clients) client.release();
    }
  });

  it('leaves the tasks of job types the worker cannot run, and of jobs that have ended', async () => {
    const served = await createStage(db.pool, { taskCount: 2 });
    const ended = await createStage(db.pool, { taskCount: 2 });
    await db.pool.query(`UPDATE jobs SET status = 'failed' WHERE job_id = $1`, [ended.jobId]);
    expect(await tasksClaimNext({ db: db.pool, worker: 'w', maxTasks: 10, leaseSeconds: 30, jobTypes: ['squares'] })).toEqual([]);
    const claimed = await tasksClaimNext({ db: db.pool, worker: 'w', maxTasks: 10, leaseSeconds: 30, jobTypes: ['hello_world'] });
    expect(claimed.map((t) => t.taskId).sort()).toEqual([...served.taskIds].sort());
  });

  it('reads ready tasks through tasks_ready among 200k tasks: due retries, then new tasks, no scan and no sort', async () => {
    const jobId = await createJob(db.pool);
    const other = await createJob(db.pool, { transport: 'servicebus' });
    await db.pool.query(`INSERT INTO stages (job_id, stage, name, task_count, batch_size, status) VALUES ($1, 1, 'big', 200000, 100, 'processing')`, [jobId]);
    // 150k finished, 20k processing (200 of them lapsed), 30k queued (300 of them due retries), and broker tasks.
    await db.pool.query(
      `INSERT INTO tasks (task_id, job_id, stage, task_index, batch_id, task_type, parameters, status, worker, attempt, lease_until, available_at)
       SELECT 'big-' || i, $1, 1, i, 'big-b' || (i / 100), 'work', '{}',
              CASE WHEN i < 150000 THEN 'completed' WHEN i < 170000 THEN 'processing' ELSE 'queued' END,
              CASE WHEN i >= 150000 AND i < 170000 THEN 'w' END, CASE WHEN i >= 150000 AND i < 170000 THEN 1 ELSE 0 END,
              CASE WHEN i >= 150000 AND i < 170000 THEN now() + CASE WHEN i % 100 = 1 THEN interval '-1 hour' ELSE interval '1 hour' END END,
              CASE WHEN i >= 170000 AND i % 100 = 0 THEN now() - interval '1 minute' END
       FROM generate_series(0, 199999) AS i`,
      [jobId],
    );
    await db.pool.query(
      `INSERT INTO tasks (task_id, job_id, stage, task_index, batch_id, task_type, parameters, status)
       SELECT 'sb-' || i, $1, 1, i, 'sb-b' || (i / 100), 'work', '{}', 'queued' FROM generate_series(0, 999) AS i`,
      [other],
    );
    await db.pool.query('ANALYZE tasks');
    const plans = await withClient(async (client) => {
      const notices: string[] = [];
      client.on('notice', (n) => notices.push(n.message ?? ''));
      // auto_explain reports the plan of the statement inside the function, as a notice to this session.
      await client.query(`LOAD 'auto_explain'`);
      await client.query(`SET auto_explain.log_min_duration = 0`);
      await client.query(`SET auto_explain.log_nested_statements = on`);
      await client.query(`SET auto_explain.log_analyze = on`);
      await client.query(`SET auto_explain.log_level = notice`);
      await client.query(`SET client_min_messages = notice`);
      // More than the due retries: both ranges of the index are read.
      const claimed = await tasksClaimNext({ db: client, worker: 'w2', maxTasks: 1_000, leaseSeconds: 30 });
      expect(claimed).toHaveLength(1_000);
      expect(claimed.filter((t) => t.attempt === 1)).toHaveLength(1_000);
      return notices.filter((n) => n.includes('UPDATE tasks t'));
    });
    expect(plans).toHaveLength(1);
    const plan = plans[0]!;
    expect(plan).toMatch(/Index Scan using tasks_ready on tasks \S+ .*\n\s+Index Cond: \(available_at <= now\(\)\)/);
    expect(plan).toMatch(/Index Scan using tasks_ready on tasks \S+ .*\n\s+Index Cond: \(available_at IS NULL\)/);
    expect(plan).not.toMatch(/Seq Scan on tasks|Sort/);
  });
});
