import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idPrefixFor, jobIdFor, taskIdFor } from '../../src/core/ids.js';
import { DEFAULT_RETRY_POLICY } from '../../src/core/job-types/job-type.js';
import { dispatchStage } from '../../src/core/protocol/dispatch-stage.js';
import { LeaseKeeper, newClaimOwner } from '../../src/core/protocol/leases.js';
import { batchesClaim, batchesRecordSends } from '../../src/store/batches.js';
import { jobsInsert } from '../../src/store/jobs.js';
import { stagesEnsure } from '../../src/store/stages.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { FakeTransport } from '../support/fake-transport.js';
import { FAST_SEND_POLICY, writePendingJob } from '../support/submit.js';
import { waitFor } from '../support/wait.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** A one-batch stage (100 tasks) ready for dispatchStage. */
async function oneBatchJob(name: string) {
  const parameters = { name };
  const jobId = jobIdFor('owner_test', parameters);
  const idPrefix = idPrefixFor(jobId);
  await jobsInsert(db.pool, {
    jobId,
    jobType: 'owner_test',
    parameters,
    processingPath: 'servicebus',
    tasksAreMessages: false,
    idPrefix,
    destination: { transport: 'servicebus' },
    stageCount: 1,
  });
  await stagesEnsure(db.pool, {
    jobId,
    stage: 1,
    name: 'only',
    taskCount: 100,
    batchSize: 100,
    retry: DEFAULT_RETRY_POLICY,
    acceptPartial: false,
    leaseSeconds: 30,
  });
  const tasks = Array.from({ length: 100 }, (_, i) => ({ index: i, key: `t-${i}`, parameters: { i } }));
  return { jobId, idPrefix, tasks, taskIds: tasks.map((t) => taskIdFor(idPrefix, 1, t.key)) };
}

describe('claims have owners', () => {
  it('a sender whose lease lapsed and was taken over records nothing for that batch, and reports it lost', async () => {
    const { jobId, idPrefix, tasks, taskIds } = await oneBatchJob('taken-over');
    const transport = new FakeTransport('servicebus');
    let sendStarted!: () => void;
    const started = new Promise<void>((resolve) => (sendStarted = resolve));
    let releaseSend!: () => void;
    const released = new Promise<void>((resolve) => (releaseSend = resolve));
    transport.onSend = async () => {
      sendStarted();
      await released;
      return undefined;
    };
    const run = dispatchStage({
      db: db.pool,
      transport,
      job: { jobId, jobType: 'owner_test', idPrefix },
      stage: { stage: 1, taskType: 'only', taskCount: 100, batchSize: 100 },
      tasks,
      concurrency: 1,
      leaseSeconds: 30,
      sendPolicy: FAST_SEND_POLICY,
    });
    await started;
    const batchId = `${idPrefix}-s1-b0`;
    const { rows: claimed } = await db.pool.query('SELECT claim_token FROM batches WHERE batch_id = $1', [batchId]);
    const firstToken = claimed[0]!.claim_token as string;
    expect(firstToken).toMatch(/^[0-9a-f-]{36}$/);

    // The first sender's lease lapses (a long pause); another process takes the batch and records its own outcome.
    await db.pool.query(`UPDATE batches SET claimed_until = now() - interval '1 second' WHERE batch_id = $1`, [batchId]);
    const second = newClaimOwner(null);
    expect(await batchesClaim(db.pool, { batchId, leaseSeconds: 30, owner: second })).toBe(true);
    const recorded = await batchesRecordSends(db.pool, {
      claimToken: second.token,
      records: [{ batchId, acknowledged: taskIds.slice(0, 30), rejected: [], status: 'failed', attempts: 2, error: 'second owner gave up' }],
    });
    expect(recorded.get(batchId)).toEqual({ gaveUp: 70 });

    // The first send now succeeds for all 100 tasks; its run must not record that.
    releaseSend();
    const result = await run;
    expect(transport.sentTaskIds()).toHaveLength(100);
    expect(result.lostBatches).toBe(1);
    expect(result).toMatchObject({ queued: 30, failed: 70, pendingQueue: 0 });

    const { rows: batch } = await db.pool.query('SELECT status, attempts, last_error, claim_token, claimed_until FROM batches WHERE batch_id = $1', [batchId]);
    expect(batch[0]).toEqual({ status: 'failed', attempts: 2, last_error: 'second owner gave up', claim_token: null, claimed_until: null });
    const { rows: byStatus } = await db.pool.query(
      `SELECT t.status, t.error, count(*)::int AS n, min(t.task_index) AS low FROM tasks t WHERE t.batch_id = $1 GROUP BY 1, 2 ORDER BY low`,
      [batchId],
    );
    expect(byStatus).toEqual([
      { status: 'queued', error: null, n: 30, low: 0 },
      { status: 'failed', error: 'second owner gave up', n: 70, low: 30 },
    ]);
    const { rows: stage } = await db.pool.query('SELECT failed_count FROM stages WHERE job_id = $1', [jobId]);
    expect(stage[0]!.failed_count).toBe(70);
  });

  it('LeaseKeeper marks a batch lost when its renewal finds another token, and keeps renewing the ones it owns', async () => {
    const jobId = await writePendingJob(db.pool, { n: 200, name: 'renewal' });
    const keeper = new LeaseKeeper(db.pool, 1, null);
    try {
      const { rows } = await db.pool.query<{ batchId: string }>(
        `UPDATE batches SET claim_token = $2, claimed_until = now() + interval '1 second' WHERE job_id = $1
         RETURNING batch_id AS "batchId"`,
        [jobId, keeper.token],
      );
      const [kept, stolen] = rows.map((r) => r.batchId).sort();
      for (const id of [kept!, stolen!]) keeper.hold(id);
      const other = newClaimOwner(null);
      await db.pool.query(`UPDATE batches SET claim_token = $2 WHERE batch_id = $1`, [stolen, other.token]);
      const { rows: initial } = await db.pool.query('SELECT claimed_until FROM batches WHERE batch_id = $1', [kept]);

      await waitFor('the renewal to find the batch taken', () => (keeper.isLost(stolen!) ? true : undefined), { timeoutMs: 10_000 });
      expect(keeper.isLost(kept!)).toBe(false);
      const { rows: after } = await db.pool.query('SELECT batch_id, claim_token, claimed_until FROM batches WHERE job_id = $1 ORDER BY batch_id', [jobId]);
      const byId = new Map(after.map((r) => [r.batch_id as string, r]));
      // The renewal extended its own claim and left the other owner's alone.
      expect(byId.get(kept!)!.claim_token).toBe(keeper.token);
      expect((byId.get(kept!)!.claimed_until as Date).getTime()).toBeGreaterThan((initial[0]!.claimed_until as Date).getTime());
      expect(byId.get(stolen!)!.claim_token).toBe(other.token);
    } finally {
      keeper.stop();
    }
  });
});
