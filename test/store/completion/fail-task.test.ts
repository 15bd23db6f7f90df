import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasksClaim, tasksFail } from '../../../src/store/completion.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { claimTask, completeTask, createStage, lapseLease, stageState, taskState } from './fixtures.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

async function claim(taskId: string, worker = 'w1'): Promise<{ claim: string; attempt: number }> {
  const answer = await tasksClaim({ db: db.pool, taskId, worker, leaseSeconds: 60 });
  if (answer.outcome !== 'claimed') throw new Error(`expected to claim ${taskId}, got ${answer.outcome}`);
  return { claim: answer.claim!, attempt: answer.attempt! };
}

/**
 * Fails the task's current attempt as retryable and returns the delay chosen:
 * retry_at minus the call's now(), which its updated_at records.
 */
async function failRetryable(taskId: string, claim: string, attempt: number) {
  const answer = await tasksFail({ db: db.pool, taskId, claim, error: `attempt ${attempt} failed`, retryable: true });
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
      const held = await claim(taskId);
      expect(held.attempt).toBe(attempt);
      const { answer, delayMs } = await failRetryable(taskId, held.claim, attempt);
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
      const held = await claim(taskId);
      const { answer, delayMs } = await failRetryable(taskId, held.claim, attempt);
      expect(answer.outcome).toBe('retry');
      const full = Math.min(1_500, 1_000 * 2 ** (attempt - 1));
      expect(delayMs).toBeGreaterThanOrEqual(full / 2);
      expect(delayMs).toBeLessThan(full);
    }
  });

  it('fails the task for good once its retries are used up, counting it on the stage', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2, maxRetries: 1, retryBaseMs: 10 });
    const taskId = taskIds[0]!;
    const first = await claim(taskId);
    expect((await tasksFail({ db: db.pool, taskId, claim: first.claim, error: 'first', retryable: true })).outcome).toBe('retry');
    const second = await claim(taskId);
    const last = await tasksFail({ db: db.pool, taskId, claim: second.claim, error: 'second', retryable: true });
    expect(last).toEqual({ outcome: 'failed', retryAt: null, stageCompleted: false });
    expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'failed', error: 'second', attempt: 2, leaseUntil: null });
    expect(await stageState(db.pool, jobId)).toMatchObject({ completedCount: 0, failedCount: 1, status: 'processing' });
  });

  it('fails a permanent error at once; the stage it finishes is failed, with a failed outbox row', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2, maxRetries: 3 });
    await completeTask(db.pool, taskIds[0]!, await claimTask(db.pool, taskIds[0]!), {});
    const held = await claim(taskIds[1]!);
    const answer = await tasksFail({ db: db.pool, taskId: taskIds[1]!, claim: held.claim, error: 'bad parameters', retryable: false });
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
    const held = await claim(taskIds[0]!);
    await tasksFail({ db: db.pool, taskId: taskIds[0]!, claim: held.claim, error: 'skipped', retryable: false });
    expect((await completeTask(db.pool, taskIds[1]!, await claimTask(db.pool, taskIds[1]!), {})).stageCompleted).toBe(true);
    expect(await stageState(db.pool, jobId)).toMatchObject({ status: 'completed', failedCount: 1, outbox: [{ outcome: 'completed' }] });
  });

  it('answers stale, changing nothing, for a claim that no longer holds the task', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 3, retryBaseMs: 60_000 });
    const [taken, finished, waiting] = [taskIds[0]!, taskIds[1]!, taskIds[2]!];
    const lost = await claim(taken, 'w1');
    await lapseLease(db.pool, taken);
    await claim(taken, 'w2'); // taken over: the second claim holds it now
    const done = await claim(finished);
    await completeTask(db.pool, finished, done.claim, 'done');
    const retried = await claim(waiting);
    await tasksFail({ db: db.pool, taskId: waiting, claim: retried.claim, error: 'wait', retryable: true }); // queued under that claim
    const cases: Array<[string, string]> = [
      [taken, lost.claim],
      [finished, done.claim],
      [waiting, retried.claim],
    ];
    for (const [taskId, token] of cases) {
      const before = await taskState(db.pool, taskId);
      const answer = await tasksFail({ db: db.pool, taskId, claim: token, error: 'late report', retryable: false });
      expect(answer, `${taskId} claim ${token}`).toEqual({ outcome: 'stale', retryAt: null, stageCompleted: false });
      expect(await taskState(db.pool, taskId)).toEqual(before);
    }
    expect(await stageState(db.pool, jobId)).toMatchObject({ completedCount: 1, failedCount: 0 });
  });

  it('answers missing for an unknown task id', async () => {
    expect(await tasksFail({ db: db.pool, taskId: 'no-such-task', claim: '1', error: 'x', retryable: true })).toEqual({
      outcome: 'missing',
      retryAt: null,
      stageCompleted: false,
    });
  });

  it('owes a broker task its retry message: a redelivery at retry_at, with a number of its own, and a notification', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 1, transport: 'servicebus', retryBaseMs: 60_000 });
    const held = await claim(taskIds[0]!);
    const answer = await tasksFail({ db: db.pool, taskId: taskIds[0]!, claim: held.claim, error: 'flaky', retryable: true });
    const { rows } = await db.pool.query(
      `SELECT job_id AS "jobId", deliver_at AS "deliverAt", reason, sent_at AS "sentAt", delivery > 0 AS numbered FROM redeliveries WHERE task_id = $1`,
      [taskIds[0]],
    );
    expect(rows).toEqual([{ jobId, deliverAt: answer.retryAt, reason: 'retry', sentAt: null, numbered: true }]);
  });

  it('owes nothing for a local task: its row, ready at retry_at, is its message', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 1, transport: 'local' });
    const held = await claim(taskIds[0]!);
    expect((await tasksFail({ db: db.pool, taskId: taskIds[0]!, claim: held.claim, error: 'flaky', retryable: true })).outcome).toBe('retry');
    const { rows } = await db.pool.query(`SELECT 1 FROM redeliveries WHERE task_id = $1`, [taskIds[0]]);
    expect(rows).toEqual([]);
  });
});
