import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasksClaim, tasksComplete, tasksFail } from '../../src/store/completion.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createStage, stageState, taskState } from './fixtures.js';

let db: TestDatabase;
let listener: pg.Client;
const notifications: string[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  listener = new pg.Client({ connectionString: db.url });
  await listener.connect();
  listener.on('notification', (n) => notifications.push(n.payload ?? ''));
  await listener.query('LISTEN geo_stage_completed');
});
afterAll(async () => {
  await listener.end();
  await db.drop();
});

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('geo_complete_task', () => {
  it('completes a claimed task: result stored, lease cleared, counted on its stage', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 3 });
    await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'w1', leaseSeconds: 30 });
    const answer = await tasksComplete({ db: db.pool, taskId: taskIds[0]!, result: { message: 'hi' } });
    expect(answer).toEqual({ outcome: 'completed', stageCompleted: false });
    expect(await taskState(db.pool, taskIds[0]!)).toMatchObject({ status: 'completed', result: { message: 'hi' }, leaseUntil: null });
    expect(await stageState(db.pool, jobId)).toMatchObject({ status: 'processing', completedCount: 1, failedCount: 0, outbox: [] });
  });

  it('reports stage_completed for the completion that finishes the stage: status, outbox row and one notification', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 3 });
    const answers = [];
    for (const taskId of taskIds) answers.push(await tasksComplete({ db: db.pool, taskId, result: null }));
    expect(answers.map((a) => a.stageCompleted)).toEqual([false, false, true]);
    const stage = await stageState(db.pool, jobId);
    expect(stage).toMatchObject({ status: 'completed', completedCount: 3, failedCount: 0, outbox: [{ outcome: 'completed', handledAt: null }] });
    expect(stage.completedAt).not.toBeNull();
    await waitFor(() => notifications.includes(`${jobId}:1`), 'the stage notification');
    expect(notifications.filter((n) => n === `${jobId}:1`)).toHaveLength(1);
  });

  it('answers duplicate for a task already completed: its first result stays and no counter moves', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 1 });
    expect(await tasksComplete({ db: db.pool, taskId: taskIds[0]!, result: { n: 1 } })).toEqual({ outcome: 'completed', stageCompleted: true });
    const after = await stageState(db.pool, jobId);
    expect(await tasksComplete({ db: db.pool, taskId: taskIds[0]!, result: { n: 2 } })).toEqual({ outcome: 'duplicate', stageCompleted: false });
    expect((await taskState(db.pool, taskIds[0]!)).result).toEqual({ n: 1 });
    expect(await stageState(db.pool, jobId)).toEqual(after);
  });

  it('answers duplicate for a task that failed, which stays failed', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2 });
    const claim = await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'w1', leaseSeconds: 30 });
    await tasksFail({ db: db.pool, taskId: taskIds[0]!, error: 'permanent', attempt: claim.attempt!, retryable: false });
    expect((await tasksComplete({ db: db.pool, taskId: taskIds[0]!, result: 1 })).outcome).toBe('duplicate');
    expect(await taskState(db.pool, taskIds[0]!)).toMatchObject({ status: 'failed', error: 'permanent', result: null });
    expect(await stageState(db.pool, jobId)).toMatchObject({ completedCount: 0, failedCount: 1 });
  });

  it('completes a task in retry wait or never claimed (a worker that did the work still counts)', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2, retryBaseMs: 60_000 });
    const claim = await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'w1', leaseSeconds: 30 });
    expect((await tasksFail({ db: db.pool, taskId: taskIds[0]!, error: 'flaky', attempt: claim.attempt!, retryable: true })).outcome).toBe('retry');
    expect((await tasksComplete({ db: db.pool, taskId: taskIds[0]!, result: 'late' })).outcome).toBe('completed');
    expect((await tasksComplete({ db: db.pool, taskId: taskIds[1]!, result: 'unclaimed' })).outcome).toBe('completed');
    expect(await taskState(db.pool, taskIds[0]!)).toMatchObject({ status: 'completed', availableAt: null });
    expect(await stageState(db.pool, jobId)).toMatchObject({ status: 'completed', completedCount: 2 });
  });

  it('answers missing for an unknown task id', async () => {
    expect(await tasksComplete({ db: db.pool, taskId: 'no-such-task', result: {} })).toEqual({ outcome: 'missing', stageCompleted: false });
  });

  it('stores any JSON result as given: arrays, strings, numbers, and none', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 4 });
    const results: unknown[] = [[1, 'two', { three: 3 }], 'a "quoted" string', 42, undefined];
    for (const [i, result] of results.entries()) await tasksComplete({ db: db.pool, taskId: taskIds[i]!, result });
    const stored = await Promise.all(taskIds.map(async (id) => (await taskState(db.pool, id)).result));
    expect(stored).toEqual([[1, 'two', { three: 3 }], 'a "quoted" string', 42, null]);
  });
});
