import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tasksClaim, tasksClaimMany, tasksCompleteMany, tasksRelease, tasksRenew } from '../../../src/store/completion.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { addStage, claimTask, completeTask, createJob, createStage, lapseLease, stageState, taskState } from './fixtures.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const json = (value: unknown) => JSON.stringify(value);

describe('geo_complete_tasks', () => {
  it('answers each id under its claim: completed once, duplicate for a repeat of the same claim, stale for another claim, missing for unknown ids', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 5 });
    const [a, b, c, d] = [taskIds[0]!, taskIds[1]!, taskIds[2]!, taskIds[3]!];
    const [ca, cb, cc, cd] = [await claimTask(db.pool, a), await claimTask(db.pool, b), await claimTask(db.pool, c), await claimTask(db.pool, d)];
    await completeTask(db.pool, c, cc, 'earlier');
    await lapseLease(db.pool, d);
    await claimTask(db.pool, d, 'w2');
    const answers = await tasksCompleteMany({
      db: db.pool,
      completions: [
        { taskId: a, claim: ca, resultJson: json({ n: 'a' }) },
        { taskId: b, claim: cb, resultJson: json([1, 2]) },
        { taskId: a, claim: ca, resultJson: json({ n: 'a again' }) },
        { taskId: c, claim: cc, resultJson: json('again') },
        { taskId: d, claim: cd, resultJson: json('from the claim that lost it') },
        { taskId: 'no-such-task', claim: '1', resultJson: null },
      ],
    });
    expect(Object.fromEntries(answers)).toEqual({
      [a]: { outcome: 'completed', stageCompleted: false },
      [b]: { outcome: 'completed', stageCompleted: false },
      [c]: { outcome: 'duplicate', stageCompleted: false },
      [d]: { outcome: 'stale', stageCompleted: false },
      'no-such-task': { outcome: 'missing', stageCompleted: false },
    });
    expect((await taskState(db.pool, a)).result).toEqual({ n: 'a' });
    expect((await taskState(db.pool, b)).result).toEqual([1, 2]);
    expect((await taskState(db.pool, c)).result).toBe('earlier');
    expect(await taskState(db.pool, d)).toMatchObject({ status: 'processing', worker: 'w2', result: null });
    expect(await stageState(db.pool, jobId)).toMatchObject({ completedCount: 3, failedCount: 0, status: 'processing' });
  });

  it('returns one row per element, repeated ids included, from the SQL function itself', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 2 });
    const claims = [await claimTask(db.pool, taskIds[0]!), await claimTask(db.pool, taskIds[1]!)];
    const { rows } = await db.pool.query(`SELECT task_id, outcome, stage_completed FROM geo_complete_tasks($1::text[], $2::bigint[], $3::jsonb[])`, [
      [taskIds[0], taskIds[0], taskIds[1]],
      [claims[0], claims[0], claims[1]],
      ['1', '2', '3'],
    ]);
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
    const completions = [];
    for (const taskId of ids) completions.push({ taskId, claim: await claimTask(db.pool, taskId), resultJson: json(taskId) });
    const answers = await tasksCompleteMany({ db: db.pool, completions });
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
    await expect(db.pool.query(`SELECT * FROM geo_complete_tasks($1::text[], $2::bigint[], $3::jsonb[])`, [taskIds, ['1', '2'], ['1']])).rejects.toThrow(
      /geo_complete_tasks: 2 task ids, 2 claims, 1 results/,
    );
    expect((await taskState(db.pool, taskIds[0]!)).status).toBe('queued');
  });
});

describe('geo_claim_tasks', () => {
  it('claims a receive of tasks in one statement, each answered as geo_claim_task would', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 3 });
    const [free, held, done] = [taskIds[0]!, taskIds[1]!, taskIds[2]!];
    await claimTask(db.pool, held, 'other', 300);
    await completeTask(db.pool, done, await claimTask(db.pool, done));
    const answers = await tasksClaimMany({ db: db.pool, taskIds: [done, free, held, 'no-such-task'], worker: 'w1', leaseSeconds: 30 });
    expect(Object.fromEntries([...answers].map(([id, a]) => [id, a.outcome]))).toEqual({
      [free]: 'claimed',
      [held]: 'busy',
      [done]: 'finished',
      'no-such-task': 'missing',
    });
    expect(await taskState(db.pool, free)).toMatchObject({ status: 'processing', worker: 'w1', claim: answers.get(free)!.claim });
  });
});

describe('geo_renew_tasks', () => {
  it('extends only leases whose claim still holds its task, and names them', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 4 });
    const [mine, takenOver, finished, never] = [taskIds[0]!, taskIds[1]!, taskIds[2]!, taskIds[3]!];
    const claims = new Map<string, string>();
    for (const taskId of [mine, takenOver, finished]) claims.set(taskId, await claimTask(db.pool, taskId, 'w1', 5));
    await lapseLease(db.pool, takenOver);
    await tasksClaim({ db: db.pool, taskId: takenOver, worker: 'w2', leaseSeconds: 5 });
    await completeTask(db.pool, finished, claims.get(finished)!);
    const before = await taskState(db.pool, mine);
    const held = await tasksRenew({
      db: db.pool,
      held: [mine, takenOver, finished].map((taskId) => ({ taskId, claim: claims.get(taskId)! })).concat([{ taskId: never, claim: '1' }]),
      leaseSeconds: 600,
    });
    expect(held).toEqual(new Set([mine]));
    const after = await taskState(db.pool, mine);
    expect(after.leaseUntil!.getTime() - before.leaseUntil!.getTime()).toBeGreaterThan(500_000);
    expect(after).toMatchObject({ status: 'processing', worker: 'w1', attempt: 1 });
    expect(await taskState(db.pool, takenOver)).toMatchObject({ worker: 'w2', attempt: 2 });
  });
});

describe('geo_release_tasks', () => {
  it('gives claims back as queued (the attempt does not count), owes broker tasks a delivery, and leaves other claims alone', async () => {
    const { taskIds } = await createStage(db.pool, { taskCount: 3, transport: 'servicebus' });
    const [a, b, theirs] = [taskIds[0]!, taskIds[1]!, taskIds[2]!];
    const held = [
      { taskId: a, claim: await claimTask(db.pool, a, 'stopping') },
      { taskId: b, claim: await claimTask(db.pool, b, 'stopping') },
    ];
    const other = await claimTask(db.pool, theirs, 'other');
    expect(await tasksRelease({ db: db.pool, held: [...held, { taskId: theirs, claim: String(BigInt(other) + 1000n) }] })).toBe(2);
    for (const taskId of [a, b]) {
      expect(await taskState(db.pool, taskId)).toMatchObject({ status: 'queued', worker: null, leaseUntil: null, attempt: 0 });
    }
    expect(await taskState(db.pool, theirs)).toMatchObject({ status: 'processing', worker: 'other', attempt: 1 });
    const { rows } = await db.pool.query(`SELECT task_id AS "taskId", reason FROM redeliveries WHERE task_id = ANY($1) ORDER BY 1`, [taskIds]);
    expect(rows).toEqual([a, b].sort().map((taskId) => ({ taskId, reason: 'released' })));
    expect(await tasksClaim({ db: db.pool, taskId: a, worker: 'next', leaseSeconds: 60 })).toMatchObject({ outcome: 'claimed', attempt: 1 });
  });
});
