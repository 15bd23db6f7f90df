import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RetryPendingOptions, retryPending } from '../../src/core/sweep/retry-pending.js';
import { messageIdOf } from '../../src/transports/message.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { busyError, FakeTransport } from '../support/fake-transport.js';
import { FAST_SEND_POLICY, submitHelloWorld, taskStatusCounts, writePendingJob } from '../support/submit.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const baseOptions: RetryPendingOptions = {
  olderThanSeconds: 0,
  limit: 1_000_000,
  dryRun: false,
  maxAttempts: 10,
  includeFailed: false,
  leaseSeconds: 30,
  concurrency: 4,
  sendPolicy: FAST_SEND_POLICY,
  retryBackoff: { baseMs: 0, maxMs: 0 },
};

async function pendingJob(name: string, n: number) {
  return { jobId: await writePendingJob(db.pool, { n, name }), transport: new FakeTransport() };
}

function recover(transport: FakeTransport, options: Partial<RetryPendingOptions> = {}) {
  return retryPending({ db: db.pool, transportFor: async () => transport, options: { ...baseOptions, ...options } });
}

describe('retry-pending', () => {
  it('re-sends only the unsent tasks of pending batches and marks them queued', async () => {
    const { jobId, transport } = await pendingJob('recover', 300);
    // One task of the first batch already reached the queue in an earlier run.
    await db.pool.query(`UPDATE tasks SET status = 'queued' WHERE job_id = $1 AND task_index = 5`, [jobId]);
    const pendingBefore = await taskStatusCounts(db.pool, jobId);
    expect(pendingBefore).toEqual({ pending_queue: 299, queued: 1 });
    const result = await recover(transport, { jobId });
    expect(result.claimedBatches).toBe(3);
    expect(result.requeuedTasks).toBe(pendingBefore.pending_queue);
    expect(result.stillPending).toBe(0);
    expect(new Set(transport.sentTaskIds()).size).toBe(pendingBefore.pending_queue);
    // The same delivery as the crashed first send: message id = task id, so duplicate detection drops a repeat.
    expect(transport.sent.every((batch) => batch.every((m) => m.delivery === 0))).toBe(true);
    expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: 300 });
  });

  it('--dry-run lists what it would claim and changes nothing', async () => {
    const { jobId, transport } = await pendingJob('dry', 200);
    const before = await db.pool.query(`SELECT batch_id, status, attempts, claimed_until FROM batches WHERE job_id = $1 ORDER BY batch_id`, [jobId]);
    const result = await recover(transport, { jobId, dryRun: true });
    expect(result.wouldClaim!.map((b) => b.batchId).sort()).toEqual(before.rows.filter((r) => r.status === 'pending_queue').map((r) => r.batch_id));
    expect(result.claimedBatches).toBe(0);
    expect(transport.sent).toHaveLength(0);
    const after = await db.pool.query(`SELECT batch_id, status, attempts, claimed_until FROM batches WHERE job_id = $1 ORDER BY batch_id`, [jobId]);
    expect(after.rows).toEqual(before.rows);
  });

  it('--max-attempts moves a batch that keeps failing to failed, and --include-failed puts it back', async () => {
    const { jobId } = await pendingJob('hopeless', 100);
    const broken = new FakeTransport();
    broken.onSend = () => ({ acknowledged: [], rejected: [], error: busyError('still down') });
    const first = await recover(broken, { jobId, maxAttempts: 2 });
    expect(first).toMatchObject({ claimedBatches: 1, failed: 0, stillPending: 100 });
    const second = await recover(broken, { jobId, maxAttempts: 2 });
    expect(second).toMatchObject({ claimedBatches: 1, failed: 1, failedTasks: 100, stillPending: 0 });
    const row = await db.pool.query(`SELECT status, attempts, last_error FROM batches WHERE job_id = $1`, [jobId]);
    // Every send attempt is recorded: two runs of FAST_SEND_POLICY.maxAttempts sends each.
    expect(row.rows[0]).toMatchObject({ status: 'failed', attempts: 2 * FAST_SEND_POLICY.maxAttempts });
    expect(row.rows[0].last_error).toMatch(/gave up after repeated send failures: .*still down/);
    expect(await taskStatusCounts(db.pool, jobId)).toEqual({ failed: 100 });
    const stage = await db.pool.query(`SELECT failed_count FROM stages WHERE job_id = $1`, [jobId]);
    expect(stage.rows[0].failed_count).toBe(100);

    expect((await recover(broken, { jobId, maxAttempts: 2 })).claimedBatches).toBe(0);
    const healthy = new FakeTransport();
    const third = await recover(healthy, { jobId, includeFailed: true });
    expect(third).toMatchObject({ resetFailedBatches: 1, claimedBatches: 1, requeuedTasks: 100, stillPending: 0 });
    expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: 100 });
    expect((await db.pool.query(`SELECT failed_count FROM stages WHERE job_id = $1`, [jobId])).rows[0].failed_count).toBe(0);
  });

  it('never takes a batch whose sender still holds its lease', async () => {
    const { jobId, transport } = await pendingJob('leased', 100);
    await db.pool.query(`UPDATE batches SET claimed_until = now() + interval '1 minute' WHERE job_id = $1`, [jobId]);
    const result = await recover(transport, { jobId });
    expect(result.claimedBatches).toBe(0);
    expect(transport.sent).toHaveLength(0);
  });

  it('respects the backoff: a batch is not retried before its next attempt time', async () => {
    const { jobId, transport } = await pendingJob('backoff', 100);
    await db.pool.query(`UPDATE batches SET next_attempt_at = now() + interval '1 minute' WHERE job_id = $1`, [jobId]);
    expect((await recover(transport, { jobId })).claimedBatches).toBe(0);
  });

  it('three concurrent runs over many pending batches send every batch exactly once', async () => {
    const { jobId } = await pendingJob('concurrent', 5_000);
    const shared = new FakeTransport();
    const results = await Promise.all([1, 2, 3].map(() => recover(shared, { jobId })));
    const perBatch = new Map<string, number>();
    for (const batch of shared.sent) perBatch.set(batch[0]!.batchId, (perBatch.get(batch[0]!.batchId) ?? 0) + 1);
    expect([...perBatch.values()].every((n) => n === 1)).toBe(true);
    expect(results.reduce((sum, r) => sum + r.claimedBatches, 0)).toBe(perBatch.size);
    expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: 5_000 });
  });

  it('delivers again, with a message of its own, each task whose claim lapsed; fails those on their last attempt', async () => {
    const submitted = await submitHelloWorld(db.pool, new FakeTransport(), { n: 10, name: 'stale' });
    const jobId = submitted.jobId;
    // Claims whose worker stopped renewing: three were on their last allowed attempt (the stage allows 3 retries).
    await db.pool.query(
      `UPDATE tasks SET status = 'processing', worker = 'gone', claim = nextval('geo_claims'), lease_until = now() - interval '1 second',
              attempt = CASE WHEN task_index < 3 THEN 4 ELSE 1 END
       WHERE job_id = $1`,
      [jobId],
    );
    const transport = new FakeTransport();
    const result = await recover(transport, { jobId });
    expect(result).toMatchObject({ staleProcessingRequeued: 7, staleProcessingFailed: 3 });
    expect(result.redelivered).toMatchObject({ sent: 7, failed: 0 });
    expect(transport.sentTaskIds()).toHaveLength(7);
    // A redelivery carries a message id of its own: duplicate detection would drop a second message
    // under the task id (the first send's), and the stage could never finish.
    const resent = transport.sent.flat();
    expect(resent.every((m) => m.delivery >= 1 && messageIdOf(m) === `${m.taskId}:d${m.delivery}`)).toBe(true);
    expect(new Set(resent.map((m) => m.delivery)).size).toBe(7);
    const rows = await db.pool.query(`SELECT status, count(*)::int AS n FROM tasks WHERE job_id = $1 GROUP BY 1 ORDER BY 1`, [jobId]);
    expect(rows.rows).toEqual([
      { status: 'failed', n: 3 },
      { status: 'queued', n: 7 },
    ]);
    // Nothing is owed any more: every redelivery was sent.
    expect(result.owed.unsent).toBe(0);
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM redeliveries WHERE job_id = $1`, [jobId])).rows[0].n).toBe(0);
  });
});
