import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasksClaim, tasksComplete, tasksFail } from '../../src/store/completion.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createStage, stageState, taskState } from './fixtures.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

async function claim(taskId: string, worker = 'w1'): Promise<number> {
  const answer = await tasksClaim({ db: db.pool, taskId, worker, leaseSeconds: 60 });
  if (answer.outcome !== 'claimed') throw new Error(`expected to claim ${taskId}, got ${answer.outcome}`);
  return answer.attempt!;
}

/**
 * Fails the task's current attempt as retryable and returns the delay chosen:
 * retry_at minus the call's now(), which its updated_at records.
 */
async function failRetryable(taskId: string, attempt: number) {
  const answer = await tasksFail({ db: db.pool, taskId, error: `attempt ${attempt} failed`, attempt, retryable: true });
  const { rows } = await db.pool.query<{ delayMs: number }>(
    `SELECT extract(epoch FROM available_at - updated_at) * 1000 AS "delayMs" FROM tasks WHERE task_id = $1`,
    [taskId],
  );
  return { answer, delayMs: Number(rows[0]!.delayMs) };
}

describe('geo_fail_task', () => {
  it('queues a retryable failure again, each retry later than the last: base x 2^(attempt-1), half of it jittered', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2, maxRetries: 3, retryBaseMs: 1_000, retryMaxMs: 600_000 });
    const taskId = taskIds[0]!;
    const delays: number[] = [];
    for (const attempt of [1, 2, 3]) {
      expect(await claim(taskId)).toBe(attempt);
      const { answer, delayMs } = await failRetryable(taskId, attempt);
      expect(answer).toMatchObject({ outcome: 'retry', stageCompleted: false });
      const full = 1_000 * 2 ** (attempt - 1);
      expect(delayMs).toBeGreaterThanOrEqual(full / 2);
      expect(delayMs).toBeLessThan(full);
      delays.push(delayMs);
      expect(await taskState(db.pool, taskId)).toMatchObject({
        status: 'queued',
        availableAt: answer.retryAt,
        worker: null,
        leaseUntil: null,
        attempt,
        error: `attempt ${attempt} failed`,
      });
    }
    expect(delays[1]!).toBeGreaterThan(delays[0]!);
    expect(delays[2]!).toBeGreaterThan(delays[1]!);
    expect(await stageState(db.pool, jobId)).toMatchObject({ completedCount: 0, failedCount: 0, status: 'processing' });
  });

  it('caps the delay at the stage retry_max_ms', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1, maxRetries: 10, retryBaseMs: 1_000, retryMaxMs: 1_500 });
    const taskId = taskIds[0]!;
    for (const attempt of [1, 2, 3, 4]) {
      await claim(taskId);
      const { answer, delayMs } = await failRetryable(taskId, attempt);
      expect(answer.outcome).toBe('retry');
      const full = Math.min(1_500, 1_000 * 2 ** (attempt - 1));
      expect(delayMs).toBeGreaterThanOrEqual(full / 2);
      expect(delayMs).toBeLessThan(full);
    }
  });

  it('fails the task for good once its retries are used up, counting it on the stage', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2, maxRetries: 1, retryBaseMs: 10 });
    const taskId = taskIds[0]!;
    await claim(taskId);
    expect((await tasksFail({ db: db.pool, taskId, error: 'first', attempt: 1, retryable: true })).outcome).toBe('retry');
    await claim(taskId);
    const last = await tasksFail({ db: db.pool, taskId, error: 'second', attempt: 2, retryable: true });
    expect(last).toEqual({ outcome: 'failed', retryAt: null, stageCompleted: false });
    expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'failed', error: 'second', attempt: 2, leaseUntil: null });
    expect(await stageState(db.pool, jobId)).toMatchObject({ completedCount: 0, failedCount: 1, status: 'processing' });
  });

  it('fails a permanent error at once; the stage it finishes is failed, with a failed outbox row', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2, maxRetries: 3 });
    await tasksComplete({ db: db.pool, taskId: taskIds[0]!, result: {} });
    await claim(taskIds[1]!);
    const answer = await tasksFail({ db: db.pool, taskId: taskIds[1]!, error: 'bad parameters', attempt: 1, retryable: false });
    expect(answer).toEqual({ outcome: 'failed', retryAt: null, stageCompleted: true });
    expect(await stageState(db.pool, jobId)).toMatchObject({
      status: 'failed',
      completedCount: 1,
      failedCount: 1,
      outbox: [{ outcome: 'failed', handledAt: null }],
    });
  });

  it('completes a stage with failed tasks when its job type accepts partial success', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2, acceptPartial: true });
    await claim(taskIds[0]!);
    await tasksFail({ db: db.pool, taskId: taskIds[0]!, error: 'skipped', attempt: 1, retryable: false });
    expect((await tasksComplete({ db: db.pool, taskId: taskIds[1]!, result: {} })).stageCompleted).toBe(true);
    expect(await stageState(db.pool, jobId)).toMatchObject({ status: 'completed', failedCount: 1, outbox: [{ outcome: 'completed' }] });
  });

  it('answers stale, changing nothing, for an attempt that no longer holds the task', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 3, retryBaseMs: 60_000 });
    const [taken, finished, waiting] = [taskIds[0]!, taskIds[1]!, taskIds[2]!];
    await claim(taken, 'w1');
    await claim(taken, 'w1'); // redelivered: attempt 2 holds it now
    await claim(finished);
    await tasksComplete({ db: db.pool, taskId: finished, result: 'done' });
    await claim(waiting);
    await tasksFail({ db: db.pool, taskId: waiting, error: 'wait', attempt: 1, retryable: true }); // queued, attempt 1
    const cases: Array<[string, number]> = [
      [taken, 1],
      [taken, 3],
      [finished, 1],
      [waiting, 1],
    ];
    for (const [taskId, attempt] of cases) {
      const before = await taskState(db.pool, taskId);
      const answer = await tasksFail({ db: db.pool, taskId, error: 'late report', attempt, retryable: false });
      expect(answer, `${taskId} attempt ${attempt}`).toEqual({ outcome: 'stale', retryAt: null, stageCompleted: false });
      expect(await taskState(db.pool, taskId)).toEqual(before);
    }
    expect(await stageState(db.pool, jobId)).toMatchObject({ completedCount: 1, failedCount: 0 });
  });

  it('answers missing for an unknown task id', async () => {
    expect(await tasksFail({ db: db.pool, taskId: 'no-such-task', error: 'x', attempt: 1, retryable: true })).toEqual({
      outcome: 'missing',
      retryAt: null,
      stageCompleted: false,
    });
  });
});
