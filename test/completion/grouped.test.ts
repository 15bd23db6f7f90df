import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  tasksClaim,
  tasksComplete,
  tasksCompleteMany,
  tasksRelease,
  tasksRenew,
} from '../../src/store/completion.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { addStage, createJob, createStage, stageState, taskState } from './fixtures.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('geo_complete_tasks', () => {
  it('answers each id: completed once, duplicate for finished or repeated ids, missing for unknown ones', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 5 });
    const [a, b, c] = [taskIds[0]!, taskIds[1]!, taskIds[2]!];
    await tasksComplete({ db: db.pool, taskId: c, result: 'earlier' });
    const answers = await tasksCompleteMany({
      db: db.pool,
      completions: [
        { taskId: a, result: { n: 'a' } },
        { taskId: b, result: [1, 2] },
        { taskId: a, result: { n: 'a again' } },
        { taskId: c, result: 'again' },
        { taskId: 'no-such-task', result: null },
      ],
    });
    expect(Object.fromEntries(answers)).toEqual({
      [a]: { outcome: 'completed', stageCompleted: false },
      [b]: { outcome: 'completed', stageCompleted: false },
      [c]: { outcome: 'duplicate', stageCompleted: false },
      'no-such-task': { outcome: 'missing', stageCompleted: false },
    });
    expect((await taskState(db.pool, a)).result).toEqual({ n: 'a' });
    expect((await taskState(db.pool, b)).result).toEqual([1, 2]);
    expect((await taskState(db.pool, c)).result).toBe('earlier');
    expect(await stageState(db.pool, jobId)).toMatchObject({ completedCount: 3, failedCount: 0, status: 'processing' });
  });

  it('returns one row per element, repeated ids included, from the SQL function itself', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 2 });
    const { rows } = await db.pool.query(
      `SELECT task_id, outcome, stage_completed FROM geo_complete_tasks($1::text[], $2::jsonb[])`,
      [[taskIds[0], taskIds[0], taskIds[1]], ['1', '2', '3']],
    );
    expect(rows).toEqual([
      { task_id: taskIds[0], outcome: 'completed', stage_completed: false },
      { task_id: taskIds[0], outcome: 'duplicate', stage_completed: false },
      { task_id: taskIds[1], outcome: 'completed', stage_completed: true },
    ]);
  });

  it('finishes every stage the group completes, each flagged on exactly one row', async () => {
    const jobId = await createJob(db.pool, { stageCount: 3 });
    const one = await addStage(db.pool, jobId, { stage: 1, taskCount: 3 });
    const two = await addStage(db.pool, jobId, { stage: 2, taskCount: 2 });
    const three = await addStage(db.pool, jobId, { stage: 3, taskCount: 2 });
    const ids = [...one.taskIds, ...two.taskIds, three.taskIds[0]!];
    const answers = await tasksCompleteMany({ db: db.pool, completions: ids.map((taskId) => ({ taskId, result: taskId })) });
    const flagged = [...answers].filter(([, a]) => a.stageCompleted).map(([id]) => id);
    expect(flagged).toHaveLength(2);
    expect(flagged.filter((id) => one.taskIds.includes(id))).toHaveLength(1);
    expect(flagged.filter((id) => two.taskIds.includes(id))).toHaveLength(1);
    expect(await stageState(db.pool, jobId, 1)).toMatchObject({ status: 'completed', completedCount: 3, outbox: [{ outcome: 'completed' }] });
    expect(await stageState(db.pool, jobId, 2)).toMatchObject({ status: 'completed', completedCount: 2, outbox: [{ outcome: 'completed' }] });
    expect(await stageState(db.pool, jobId, 3)).toMatchObject({ status: 'processing', completedCount: 1, outbox: [] });
  });

  it('refuses arrays of different lengths and changes nothing', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 2 });
    await expect(db.pool.query(`SELECT * FROM geo_complete_tasks($1::text[], $2::jsonb[])`, [taskIds, ['1']])).rejects.toThrow(
      /geo_complete_tasks: 2 task ids but 1 results/,
    );
    expect((await taskState(db.pool, taskIds[0]!)).status).toBe('queued');
  });
});

describe('geo_renew_tasks', () => {
  it("extends only the worker's own processing leases and names them", async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 4 });
    const [mine, takenOver, finished, never] = [taskIds[0]!, taskIds[1]!, taskIds[2]!, taskIds[3]!];
    for (const taskId of [mine, takenOver, finished]) await tasksClaim({ db: db.pool, taskId, worker: 'w1', leaseSeconds: 5 });
    await db.pool.query(`UPDATE tasks SET lease_until = now() - interval '1 second' WHERE task_id = $1`, [takenOver]);
    await tasksClaim({ db: db.pool, taskId: takenOver, worker: 'w2', leaseSeconds: 5 });
    await tasksComplete({ db: db.pool, taskId: finished, result: null });
    const before = await taskState(db.pool, mine);
    const held = await tasksRenew({ db: db.pool, worker: 'w1', taskIds: [mine, takenOver, finished, never], leaseSeconds: 600 });
    expect(held).toEqual(new Set([mine]));
    const after = await taskState(db.pool, mine);
    expect(after.leaseUntil!.getTime() - before.leaseUntil!.getTime()).toBeGreaterThan(500_000);
    expect(after).toMatchObject({ status: 'processing', worker: 'w1', attempt: 1 });
    expect(await taskState(db.pool, takenOver)).toMatchObject({ worker: 'w2', attempt: 2 });
  });
});

describe('geo_release_tasks', () => {
  it("gives the worker's claimed tasks back as queued, keeping the attempt, and leaves others alone", async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 3 });
    const [a, b, theirs] = [taskIds[0]!, taskIds[1]!, taskIds[2]!];
    for (const taskId of [a, b]) await tasksClaim({ db: db.pool, taskId, worker: 'stopping', leaseSeconds: 60 });
    await tasksClaim({ db: db.pool, taskId: theirs, worker: 'other', leaseSeconds: 60 });
    expect(await tasksRelease({ db: db.pool, worker: 'stopping', taskIds: [a, b, theirs] })).toBe(2);
    for (const taskId of [a, b]) {
      expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'queued', worker: null, leaseUntil: null, attempt: 1 });
    }
    expect(await taskState(db.pool, theirs)).toMatchObject({ status: 'processing', worker: 'other', attempt: 1 });
    expect(await tasksClaim({ db: db.pool, taskId: a, worker: 'next', leaseSeconds: 60 })).toMatchObject({ outcome: 'claimed', attempt: 2 });
  });
});
