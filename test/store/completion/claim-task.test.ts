import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasksClaim, tasksFail, tasksRelease } from '../../../src/store/completion.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { claimTask, completeTask, createStage, dbNow, lapseLease, taskState } from './fixtures.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('geo_claim_task', () => {
  it('claims a queued task: processing, leased to the worker under a new claim token, attempt 1, with its type and parameters', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 2 });
    const before = await dbNow(db.pool);
    const claim = await tasksClaim({ db: db.pool, taskId: taskIds[1]!, worker: 'w1', leaseSeconds: 30 });
    expect(claim).toEqual({ outcome: 'claimed', claim: expect.stringMatching(/^\d+$/), attempt: 1, taskType: 'work', parameters: { i: 1 } });
    const row = await taskState(db.pool, taskIds[1]!);
    expect(row).toMatchObject({ status: 'processing', worker: 'w1', attempt: 1, claim: claim.claim });
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
    expect(claim).toEqual({ outcome: 'busy', claim: null, attempt: null, taskType: null, parameters: null });
    expect(await taskState(db.pool, taskIds[0]!)).toEqual(held);
  });

  it('answers busy to the worker that holds the live lease too: two invocations on one host never both run the task', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1 });
    const first = await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'fn-host-3', leaseSeconds: 300 });
    const second = await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'fn-host-3', leaseSeconds: 300 });
    expect(first.outcome).toBe('claimed');
    expect(second.outcome).toBe('busy');
    expect(await taskState(db.pool, taskIds[0]!)).toMatchObject({ attempt: 1, claim: first.claim });
  });

  it('lets another worker take over a lapsed lease as a new attempt; the old attempt is then stale', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1 });
    const taskId = taskIds[0]!;
    const dead = await claimTask(db.pool, taskId, 'dead', 300);
    await lapseLease(db.pool, taskId);
    const claim = await tasksClaim({ db: db.pool, taskId, worker: 'w2', leaseSeconds: 300 });
    expect(claim).toMatchObject({ outcome: 'claimed', attempt: 2 });
    expect(BigInt(claim.claim!)).toBeGreaterThan(BigInt(dead));
    expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'processing', worker: 'w2', attempt: 2 });
    const late = await tasksFail({ db: db.pool, taskId, claim: dead, error: 'from the dead worker', retryable: true });
    expect(late.outcome).toBe('stale');
    expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'processing', worker: 'w2', attempt: 2, error: null });
  });

  it('fails a task whose last allowed attempt lapsed instead of claiming it again, and answers finished', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1, maxRetries: 0 });
    await claimTask(db.pool, taskIds[0]!, 'dead');
    await lapseLease(db.pool, taskIds[0]!);
    expect((await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'w2', leaseSeconds: 30 })).outcome).toBe('finished');
    expect(await taskState(db.pool, taskIds[0]!)).toMatchObject({ status: 'failed', error: expect.stringContaining('lease lapsed') });
  });

  it('claims a released task again as a new attempt: the release did not count', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1 });
    const claim = await claimTask(db.pool, taskIds[0]!);
    expect(await tasksRelease({ db: db.pool, held: [{ taskId: taskIds[0]!, claim }] })).toBe(1);
    expect(await taskState(db.pool, taskIds[0]!)).toMatchObject({ status: 'queued', attempt: 0, worker: null });
    expect(await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'w2', leaseSeconds: 30 })).toMatchObject({ outcome: 'claimed', attempt: 1 });
  });

  it('answers cancelled for a task of a job that has ended, and marks it cancelled', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 1 });
    await db.pool.query(`UPDATE jobs SET status = 'failed' WHERE job_id = $1`, [jobId]);
    expect((await tasksClaim({ db: db.pool, taskId: taskIds[0]!, worker: 'w1', leaseSeconds: 30 })).outcome).toBe('cancelled');
    expect((await taskState(db.pool, taskIds[0]!)).status).toBe('cancelled');
  });

  it('answers finished for completed and failed tasks and leaves them as they are', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 2 });
    const [done, failed] = [taskIds[0]!, taskIds[1]!];
    await completeTask(db.pool, done, await claimTask(db.pool, done), { ok: true });
    const claimed = await tasksClaim({ db: db.pool, taskId: failed, worker: 'w1', leaseSeconds: 30 });
    await tasksFail({ db: db.pool, taskId: failed, claim: claimed.claim!, error: 'bad input', retryable: false });
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
    expect(claim).toEqual({ outcome: 'missing', claim: null, attempt: null, taskType: null, parameters: null });
  });
});
