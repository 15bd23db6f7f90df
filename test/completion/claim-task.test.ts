import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasksClaim, tasksComplete, tasksFail } from '../../src/store/completion.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createStage, dbNow, taskState } from './fixtures.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('geo_claim_task', () => {
  it('claims a queued task: processing, leased to the worker, attempt 1, with its type and parameters', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 2 });
    const before = await dbNow(db.pool);
    const claim = await tasksClaim({ db: db.pool, taskId: taskIds[1]!, worker: 'w1', leaseSeconds: 30 });
    expect(claim).toEqual({ outcome: 'claimed', attempt: 1, taskType: 'work', parameters: { i: 1 } });
    const row = await taskState(db.pool, taskIds[1]!);
    expect(row).toMatchObject({ status: 'processing', worker: 'w1', attempt: 1 });
    expect(row.startedAt!.getTime()).toBeGreaterThanOrEqual(before.getTime());
    expect(row.leaseUntil!.getTime() - row.startedAt!.getTime()).toBe(30_000);
  });

  it('claims a task still pending_queue: its message arrived before step 3, or step 3 recorded only the batch', async () => {
    const early = await createStage(db.pool, { taskCount: 1, transport: 'servicebus', taskStatus: 'pending_queue' });
    const derived = await createStage(db.pool, { taskCount: 1, transport: 'servicebus', taskStatus: 'pending_queue' });
    await db.pool.query(`UPDATE batches SET status = 'queued', claimed_until = NULL WHERE job_id = $1`, [derived.jobId]);
    for (const taskId of [early.taskIds[0]!, derived.taskIds[0]!]) {
      expect((await taskState(db.pool, taskId)).status).toBe('pending_queue');
      const claim = await tasksClaim({ db: db.pool, taskId, worker: 'fn-1', leaseSeconds: 60 });
      expect(claim.outcome).toBe('claimed');
      expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'processing', worker: 'fn-1', attempt: 1 });
    }
  });

  it('answers busy while another worker holds a live lease, and changes nothing', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1 });
    await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'w1', leaseSeconds: 300 });
    const held = await taskState(db.pool, taskIds[0]!);
    const claim = await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'w2', leaseSeconds: 300 });
    expect(claim).toEqual({ outcome: 'busy', attempt: null, taskType: null, parameters: null });
    expect(await taskState(db.pool, taskIds[0]!)).toEqual(held);
  });

  it('lets another worker take over a lapsed lease as a new attempt; the old attempt is then stale', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1 });
    const taskId = taskIds[0]!;
    await tasksClaim({ db: db.pool, taskId, worker: 'dead', leaseSeconds: 300 });
    await db.pool.query(`UPDATE tasks SET lease_until = now() - interval '1 second' WHERE task_id = $1`, [taskId]);
    const claim = await tasksClaim({ db: db.pool, taskId, worker: 'w2', leaseSeconds: 300 });
    expect(claim).toMatchObject({ outcome: 'claimed', attempt: 2 });
    expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'processing', worker: 'w2', attempt: 2 });
    const late = await tasksFail({ db: db.pool, taskId, error: 'from the dead worker', attempt: 1, retryable: true });
    expect(late.outcome).toBe('stale');
    expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'processing', worker: 'w2', attempt: 2, error: null });
  });

  it('claims again for the same worker (a redelivery to it) as a new attempt', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1 });
    await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'w1', leaseSeconds: 300 });
    const again = await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'w1', leaseSeconds: 300 });
    expect(again).toMatchObject({ outcome: 'claimed', attempt: 2 });
  });

  it('answers finished for completed and failed tasks and leaves them as they are', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 2 });
    const [done, failed] = [taskIds[0]!, taskIds[1]!];
    await tasksComplete({ db: db.pool, taskId: done, result: { ok: true } });
    const claimed = await tasksClaim({ db: db.pool, taskId: failed, worker: 'w1', leaseSeconds: 30 });
    await tasksFail({ db: db.pool, taskId: failed, error: 'bad input', attempt: claimed.attempt!, retryable: false });
    for (const taskId of [done, failed]) {
      const before = await taskState(db.pool, taskId);
      expect((await tasksClaim({ db: db.pool, taskId, worker: 'w2', leaseSeconds: 30 })).outcome).toBe('finished');
      expect(await taskState(db.pool, taskId)).toEqual(before);
    }
    expect((await taskState(db.pool, done)).status).toBe('completed');
    expect((await taskState(db.pool, failed)).status).toBe('failed');
  });

  it('answers missing for an unknown task id', async () => {
    const claim = await tasksClaim({ db: db.pool, taskId: 'no-such-task', worker: 'w1', leaseSeconds: 30 });
    expect(claim).toEqual({ outcome: 'missing', attempt: null, taskType: null, parameters: null });
  });
});
