import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tasksClaim, tasksFail } from '../../../src/store/completion.js';
import { tasksRequeueLapsed } from '../../../src/store/redeliveries.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { claimTask, completeTask, createStage, lapseLease, stageState, taskState } from './fixtures.js';

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

describe('geo_complete_task', () => {
  it('completes a task under the claim that holds it: result stored, lease cleared, counted on its stage', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 3 });
    const claim = await claimTask(db.pool, taskIds[0]!);
    expect(await completeTask(db.pool, taskIds[0]!, claim, { message: 'hi' })).toEqual({ outcome: 'completed', stageCompleted: false });
    expect(await taskState(db.pool, taskIds[0]!)).toMatchObject({ status: 'completed', result: { message: 'hi' }, leaseUntil: null, claim });
    expect(await stageState(db.pool, jobId)).toMatchObject({ status: 'processing', completedCount: 1, failedCount: 0, outbox: [] });
  });

  it('reports stage_completed for the completion that finishes the stage: status, outbox row and one notification', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 3 });
    const answers = [];
    for (const taskId of taskIds) answers.push(await completeTask(db.pool, taskId, await claimTask(db.pool, taskId)));
    expect(answers.map((a) => a.stageCompleted)).toEqual([false, false, true]);
    const stage = await stageState(db.pool, jobId);
    expect(stage).toMatchObject({ status: 'completed', completedCount: 3, failedCount: 0, outbox: [{ outcome: 'completed', handledAt: null }] });
    expect(stage.completedAt).not.toBeNull();
    await vi.waitFor(() => expect(notifications).toContain(`${jobId}:1`));
    expect(notifications.filter((n) => n === `${jobId}:1`)).toHaveLength(1);
  });

  it('answers duplicate when the same claim completes twice: the first result stays and no counter moves', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 1 });
    const claim = await claimTask(db.pool, taskIds[0]!);
    expect(await completeTask(db.pool, taskIds[0]!, claim, { n: 1 })).toEqual({ outcome: 'completed', stageCompleted: true });
    const after = await stageState(db.pool, jobId);
    expect(await completeTask(db.pool, taskIds[0]!, claim, { n: 2 })).toEqual({ outcome: 'duplicate', stageCompleted: false });
    expect((await taskState(db.pool, taskIds[0]!)).result).toEqual({ n: 1 });
    expect(await stageState(db.pool, jobId)).toEqual(after);
  });

  it('answers stale to a claim that was taken over after its lease lapsed: the new claim keeps the task', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1 });
    const taskId = taskIds[0]!;
    const old = await claimTask(db.pool, taskId, 'dead');
    await lapseLease(db.pool, taskId);
    const fresh = await claimTask(db.pool, taskId, 'w2');
    expect(await completeTask(db.pool, taskId, old, 'late')).toEqual({ outcome: 'stale', stageCompleted: false });
    expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'processing', worker: 'w2', claim: fresh, result: null });
    expect((await completeTask(db.pool, taskId, fresh, 'ok')).outcome).toBe('completed');
  });

  it('answers stale to a claim the sweep took back after its lease lapsed', async () => {
    const { taskIds, jobId } = await createStage(db.pool, { taskCount: 1 });
    const taskId = taskIds[0]!;
    const claim = await claimTask(db.pool, taskId);
    await lapseLease(db.pool, taskId);
    expect((await tasksRequeueLapsed(db.pool, { limit: 10, jobId })).requeued).toBe(1);
    expect(await completeTask(db.pool, taskId, claim, 'late')).toEqual({ outcome: 'stale', stageCompleted: false });
    expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'queued', result: null });
  });

  it('answers stale when another claim failed the task for good, which stays failed', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2 });
    const claim = await claimTask(db.pool, taskIds[0]!);
    await tasksFail({ db: db.pool, taskId: taskIds[0]!, claim, error: 'permanent', retryable: false });
    expect((await completeTask(db.pool, taskIds[0]!, claim, 1)).outcome).toBe('stale');
    expect(await taskState(db.pool, taskIds[0]!)).toMatchObject({ status: 'failed', error: 'permanent', result: null });
    expect(await stageState(db.pool, jobId)).toMatchObject({ completedCount: 0, failedCount: 1 });
  });

  it('accepts the report of a claim a database crash lost: the task is unclaimed and the token newer than any it recorded', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 1 });
    const taskId = taskIds[0]!;
    const claim = await claimTask(db.pool, taskId);
    // What recovery from a crash leaves when the claim's asynchronous commit was not flushed.
    await db.pool.query(`UPDATE tasks SET status = 'queued', claim = NULL, attempt = 0, worker = NULL, lease_until = NULL WHERE task_id = $1`, [taskId]);
    expect(await completeTask(db.pool, taskId, claim, 'done')).toEqual({ outcome: 'completed', stageCompleted: true });
    expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'completed', claim, result: 'done' });
    expect(await stageState(db.pool, jobId)).toMatchObject({ status: 'completed', completedCount: 1 });
  });

  it('answers missing for an unknown task id', async () => {
    expect(await completeTask(db.pool, 'no-such-task', '1', {})).toEqual({ outcome: 'missing', stageCompleted: false });
  });

  it('stores any JSON result as given: arrays, strings, numbers, and none', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 4 });
    const results: unknown[] = [[1, 'two', { three: 3 }], 'a "quoted" string', 42, undefined];
    for (const [i, result] of results.entries()) await completeTask(db.pool, taskIds[i]!, await claimTask(db.pool, taskIds[i]!), result);
    const stored = await Promise.all(taskIds.map(async (id) => (await taskState(db.pool, id)).result));
    expect(stored).toEqual([[1, 'two', { three: 3 }], 'a "quoted" string', 42, null]);
  });

  it('has no unfenced form left: the completion functions of the first contract are gone', async () => {
    const { rows } = await db.pool.query<{ signature: string }>(
      `SELECT p.oid::regprocedure::text AS signature FROM pg_proc p
       WHERE p.proname IN ('geo_claim_task', 'geo_complete_task', 'geo_fail_task', 'geo_complete_tasks', 'geo_renew_tasks', 'geo_release_tasks')
       ORDER BY 1`,
    );
    expect(rows.map((r) => r.signature)).toEqual([
      'geo_claim_task(text,text,interval)',
      'geo_complete_task(text,bigint,jsonb)',
      'geo_complete_tasks(text[],bigint[],jsonb[])',
      'geo_fail_task(text,bigint,text,boolean)',
      'geo_release_tasks(text[],bigint[],interval)',
      'geo_renew_tasks(text[],bigint[],interval)',
    ]);
    void tasksClaim;
  });
});
