import crypto from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stagesFinish } from '../../../src/store/completion.js';
import type { Queryable } from '../../../src/store/pool.js';
import {
  stageCompletionsClaim as claimRows,
  stageCompletionsRecordError as recordError,
  stageCompletionsCountOpen,
  stageCompletionsMarkHandled,
} from '../../../src/store/stage-completions.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { addStage, claimTask, completeTask, createJob, createStage, stageState } from './fixtures.js';

/** Claims outbox rows for a run whose token is `token` (no session: its lease alone holds them). */
const stageCompletionsClaim = (p: { db: Queryable; limit: number; leaseSeconds: number; token: string }) =>
  claimRows({ ...p, owner: { token: p.token, session: null } });
const stageCompletionsRecordError = (p: Omit<Parameters<typeof recordError>[0], 'unknownType'>) => recordError({ ...p, unknownType: false });

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('geo_stage_finish', () => {
  it('finishes a stage of zero tasks at once, exactly once', async () => {
    const jobId = await createJob(db.pool, { stageCount: 2 });
    await addStage(db.pool, jobId, { stage: 2, taskCount: 0 });
    expect(await stagesFinish({ db: db.pool, jobId, stage: 2, completed: 0, failed: 0 })).toBe(true);
    expect(await stagesFinish({ db: db.pool, jobId, stage: 2, completed: 0, failed: 0 })).toBe(false);
    expect(await stageState(db.pool, jobId, 2)).toMatchObject({ status: 'completed', completedCount: 0, outbox: [{ outcome: 'completed' }] });
  });

  it('adds counts from the producer or recovery (tasks failed in bulk) and finishes the stage they complete', async () => {
    const { jobId } = await createStage(db.pool, { taskCount: 10 });
    expect(await stagesFinish({ db: db.pool, jobId, stage: 1, completed: 6, failed: 0 })).toBe(false);
    expect(await stagesFinish({ db: db.pool, jobId, stage: 1, completed: 0, failed: 4 })).toBe(true);
    expect(await stageState(db.pool, jobId)).toMatchObject({ status: 'failed', completedCount: 6, failedCount: 4, outbox: [{ outcome: 'failed' }] });
  });

  it('leaves a finished stage finished: later counts are added, no second outbox row', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 1 });
    expect((await completeTask(db.pool, taskIds[0]!, await claimTask(db.pool, taskIds[0]!), 1)).stageCompleted).toBe(true);
    expect(await stagesFinish({ db: db.pool, jobId, stage: 1, completed: 0, failed: 1 })).toBe(false);
    expect(await stageState(db.pool, jobId)).toMatchObject({ status: 'completed', failedCount: 1, outbox: [{ outcome: 'completed' }] });
  });

  it('raises an error naming a stage that does not exist', async () => {
    await expect(stagesFinish({ db: db.pool, jobId: 'no-such-job', stage: 1, completed: 1, failed: 0 })).rejects.toThrow(
      /geo_stage_finish: job no-such-job has no stage 1/,
    );
  });
});

describe('stage_completions, the outbox', () => {
  // The outbox is shared by every job in the database: each test starts from an empty one.
  beforeEach(async () => {
    await db.pool.query('TRUNCATE stage_completions');
  });

  async function finishedStage(): Promise<string> {
    const jobId = await createJob(db.pool);
    await addStage(db.pool, jobId, { taskCount: 0 });
    await stagesFinish({ db: db.pool, jobId, stage: 1, completed: 0, failed: 0 });
    return jobId;
  }

  it('leases open rows, oldest first, to one token; a second claimer gets none while the lease lasts', async () => {
    const first = await finishedStage();
    const second = await finishedStage();
    const token = crypto.randomUUID();
    const claimed = await stageCompletionsClaim({ db: db.pool, limit: 10, leaseSeconds: 60, token });
    expect(claimed.map((c) => [c.jobId, c.stage, c.outcome, c.attempts])).toEqual([
      [first, 1, 'completed', 1],
      [second, 1, 'completed', 1],
    ]);
    expect(await stageCompletionsClaim({ db: db.pool, limit: 10, leaseSeconds: 60, token: crypto.randomUUID() })).toEqual([]);
    expect(await stageCompletionsCountOpen({ db: db.pool })).toBe(2);
  });

  it('takes over a row whose lease lapsed; the first holder can then no longer mark it handled', async () => {
    const jobId = await finishedStage();
    const [dead, live] = [crypto.randomUUID(), crypto.randomUUID()];
    await stageCompletionsClaim({ db: db.pool, limit: 10, leaseSeconds: 60, token: dead });
    await db.pool.query(`UPDATE stage_completions SET claimed_until = now() - interval '1 second'`);
    const taken = await stageCompletionsClaim({ db: db.pool, limit: 10, leaseSeconds: 60, token: live });
    expect(taken.map((c) => [c.jobId, c.attempts])).toEqual([[jobId, 2]]);
    expect(await stageCompletionsMarkHandled({ db: db.pool, jobId, stage: 1, token: dead })).toBe(false);
    expect(await stageCompletionsMarkHandled({ db: db.pool, jobId, stage: 1, token: live })).toBe(true);
    expect(await stageCompletionsCountOpen({ db: db.pool, jobId })).toBe(0);
    expect(await stageCompletionsClaim({ db: db.pool, limit: 10, leaseSeconds: 0, token: live })).toEqual([]);
  });

  it('records an error and gives the row up until its retry time', async () => {
    const jobId = await finishedStage();
    const token = crypto.randomUUID();
    await stageCompletionsClaim({ db: db.pool, limit: 10, leaseSeconds: 60, token });
    expect(await stageCompletionsRecordError({ db: db.pool, jobId, stage: 1, token: crypto.randomUUID(), error: 'x', retryAfterSeconds: 0 })).toBe(false);
    expect(await stageCompletionsRecordError({ db: db.pool, jobId, stage: 1, token, error: 'queue unreachable', retryAfterSeconds: 3_600 })).toBe(true);
    expect(await stageCompletionsClaim({ db: db.pool, limit: 10, leaseSeconds: 60, token })).toEqual([]);
    await db.pool.query(`UPDATE stage_completions SET claimed_until = now() - interval '1 second'`);
    const again = await stageCompletionsClaim({ db: db.pool, limit: 10, leaseSeconds: 60, token });
    expect(again).toMatchObject([{ jobId, attempts: 2, lastError: 'queue unreachable' }]);
    expect(await stageCompletionsCountOpen({ db: db.pool, jobId })).toBe(1);
  });
});
