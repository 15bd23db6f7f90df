import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchReport } from '../../src/core/batch-report.js';
import { batchIdFor, idPrefixFor, jobIdFor } from '../../src/core/ids.js';
import { createLocalProducer } from '../../src/transports/local.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { busyError, FakeTransport, permanentError } from '../support/fake-transport.js';
import { submitHelloWorld, taskStatusCounts } from '../support/submit.js';
import { sleep, waitFor } from '../support/wait.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('dispatch on the local transport', () => {
  it('writes 10,000 tasks as 100 aligned batches of 100, all queued, and the report matches SQL', async () => {
    const result = await submitHelloWorld(db.pool, createLocalProducer(), { n: 10_000, name: 'local' });
    expect(result).toMatchObject({ tasks: 10_000, batches: 100, queued: 10_000, pendingQueue: 0, failed: 0, createdTasks: 10_000 });

    const jobId = jobIdFor('hello_world', { n: 10_000, name: 'local' });
    const { rows } = await db.pool.query(
      `SELECT t.batch_id, count(*)::int AS tasks, min(t.task_index) AS lo, max(t.task_index) AS hi,
              bool_and(t.status = 'queued') AS all_queued
       FROM task_states t WHERE t.job_id = $1 GROUP BY t.batch_id`,
      [jobId],
    );
    expect(rows).toHaveLength(100);
    for (const row of rows) {
      const k = Number(String(row.batch_id).split('-b')[1]);
      expect(row.batch_id).toBe(batchIdFor(idPrefixFor(jobId), 1, k));
      expect(row).toMatchObject({ tasks: 100, lo: k * 100, hi: k * 100 + 99, all_queued: true });
    }
    const sample = await db.pool.query(`SELECT task_id, parameters FROM tasks WHERE job_id = $1 AND task_index = 17`, [jobId]);
    expect(sample.rows[0]).toEqual({
      task_id: `${jobId.slice(0, 16)}-s1-greet-17`,
      parameters: { i: 17, message: 'Hello local from task 17!' },
    });

    const report = await batchReport(db.pool, jobId);
    expect(report.summary).toMatchObject({ batches: 100, tasks: 10_000, batchesByStatus: { queued: 100 } });
    expect(report.summary.counts).toEqual({ pending_queue: 0, queued: 10_000, processing: 0, completed: 0, failed: 0, cancelled: 0 });
    expect(report.problems).toEqual([]);
    const truth = new Map(rows.map((r) => [r.batch_id as string, r.tasks as number]));
    for (const batch of report.batches) expect(batch.tasks).toBe(truth.get(batch.batchId));
  });

  it('resubmitting the same job returns the same id and creates nothing', async () => {
    const first = await submitHelloWorld(db.pool, createLocalProducer(), { n: 250, name: 'again' });
    const second = await submitHelloWorld(db.pool, createLocalProducer(), { name: 'again', n: '250' });
    expect(second.jobId).toBe(first.jobId);
    expect(second.jobCreated).toBe(false);
    expect(second.createdTasks).toBe(0);
    expect(second).toMatchObject({ tasks: 250, batches: 3, queued: 250 });
    expect(await taskStatusCounts(db.pool, first.jobId)).toEqual({ queued: 250 });
  });

  it('an abort (Ctrl-C) stops taking new batches, keeps finished ones, and a rerun completes the rest', async () => {
    const controller = new AbortController();
    const params = { n: 3_000, name: 'abort' };
    const first = await submitHelloWorld(db.pool, createLocalProducer(), params, {
      concurrency: 1,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.batchesDone >= 10) controller.abort();
      },
    });
    expect(first.stoppedBy?.code).toBe('INTERRUPTED');
    expect(first.queued).toBeGreaterThanOrEqual(1_000);
    expect(first.queued + first.notWritten).toBe(3_000);
    expect(first.pendingQueue).toBe(0);
    const second = await submitHelloWorld(db.pool, createLocalProducer(), params);
    expect(second).toMatchObject({ queued: 3_000, createdTasks: first.notWritten });
  });

  it('two concurrent submits of one job create every task once and both report it fully queued', async () => {
    const [a, b] = await Promise.all([
      submitHelloWorld(db.pool, createLocalProducer(), { n: 5_000, name: 'race' }),
      submitHelloWorld(db.pool, createLocalProducer(), { n: 5_000, name: 'race' }),
    ]);
    expect(a.createdTasks + b.createdTasks).toBe(5_000);
    expect(a.queued).toBe(5_000);
    expect(b.queued).toBe(5_000);
    expect(await taskStatusCounts(db.pool, a.jobId)).toEqual({ queued: 5_000 });
  });
});

describe('the three-step batch protocol with a sending transport', () => {
  it('sends each batch once as one transport batch of at most 100 and marks it queued', async () => {
    const transport = new FakeTransport();
    const result = await submitHelloWorld(db.pool, transport, { n: 1_050, name: 'sent' });
    expect(result).toMatchObject({ queued: 1_050, pendingQueue: 0, batches: 11 });
    expect(transport.sent).toHaveLength(11);
    expect(Math.max(...transport.sent.map((b) => b.length))).toBe(100);
    expect(new Set(transport.sentTaskIds()).size).toBe(1_050);
    for (const batch of transport.sent) expect(new Set(batch.map((m) => m.batchId)).size).toBe(1);
    expect(await taskStatusCounts(db.pool, result.jobId)).toEqual({ queued: 1_050 });
  });

  it('an interrupted submit (permanent failure after K sends) resumes to exactly the missing work', async () => {
    const params = { n: 2_000, name: 'interrupted' };
    const failing = new FakeTransport();
    const K = 7;
    failing.onSend = (_messages, sendNumber) => {
      if (sendNumber > K) return { acknowledged: [], rejected: [], error: permanentError() };
      return undefined;
    };
    const first = await submitHelloWorld(db.pool, failing, params, { concurrency: 1 });
    // One group of 10 batches was written; 7 were sent before access was refused.
    expect(first.stoppedBy?.code).toBe('SEND_FAILED');
    expect(first).toMatchObject({ queued: K * 100, pendingQueue: 300, notWritten: 1_000 });
    const pending = await db.pool.query(`SELECT batch_id, last_error FROM batches WHERE job_id = $1 AND status = 'pending_queue' ORDER BY batch_id`, [
      first.jobId,
    ]);
    expect(pending.rows).toHaveLength(3);
    for (const row of pending.rows) expect(row.last_error).toBe('unauthorized');

    const healthy = new FakeTransport();
    const second = await submitHelloWorld(db.pool, healthy, params);
    expect(second).toMatchObject({ queued: 2_000, pendingQueue: 0, failed: 0, notWritten: 0, createdTasks: 1_000 });
    const resent = new Set(healthy.sentTaskIds());
    expect(resent.size).toBe(2_000 - K * 100);
    for (const id of failing.sentTaskIds()) expect(resent.has(id)).toBe(false);
    expect(await taskStatusCounts(db.pool, first.jobId)).toEqual({ queued: 2_000 });
  });

  it('a crash after the send and before marking re-sends that batch on resume (message id dedupes it)', async () => {
    const params = { n: 300, name: 'crash-after-send' };
    const crashing = new FakeTransport();
    let lost: string[] = [];
    crashing.onSend = (messages, sendNumber) => {
      if (sendNumber === 2) {
        lost = messages.map((m) => m.taskId); // the broker got them...
        throw new Error('process died before step 3'); // ...but the sender never recorded it
      }
      return undefined;
    };
    const first = await submitHelloWorld(db.pool, crashing, params, { concurrency: 1 });
    expect(first.pendingQueue).toBe(100);
    const healthy = new FakeTransport();
    const second = await submitHelloWorld(db.pool, healthy, params);
    expect(second.queued).toBe(300);
    expect(healthy.sent).toHaveLength(1);
    expect(healthy.sentTaskIds().sort()).toEqual(lost.sort());
  });

  it('a batch still leased by a live sender is left to it, then reported as it ends', async () => {
    const params = { n: 100, name: 'leased' };
    let release!: () => void;
    const slow = new FakeTransport();
    slow.onSend = () => new Promise((resolve) => (release = () => resolve(undefined)));
    const running = submitHelloWorld(db.pool, slow, params);
    await waitFor(
      'the slow submit to write its batch',
      async () => (await db.pool.query(`SELECT 1 FROM batches WHERE job_id = $1`, [jobIdFor('hello_world', params)])).rowCount === 1,
      { timeoutMs: 5_000, intervalMs: 20 },
    );
    const other = new FakeTransport();
    const concurrent = submitHelloWorld(db.pool, other, params);
    // Time is the point: the other submit gets 300 ms in which it could wrongly send the leased batch.
    await sleep(300);
    release();
    const [a, b] = await Promise.all([running, concurrent]);
    expect(other.sent).toHaveLength(0);
    expect(a.queued).toBe(100);
    expect(b.queued).toBe(100);
  });

  it('retries a busy broker and gets everything through', async () => {
    const flaky = new FakeTransport();
    const refusedOnce = new Set<string>();
    flaky.onSend = (messages) => {
      const batchId = messages[0]!.batchId;
      if (refusedOnce.has(batchId)) return undefined;
      refusedOnce.add(batchId);
      return { acknowledged: [], rejected: [], error: busyError() };
    };
    const result = await submitHelloWorld(db.pool, flaky, { n: 1_000, name: 'busy' });
    expect(result).toMatchObject({ queued: 1_000, pendingQueue: 0 });
    expect(refusedOnce.size).toBe(10);
    expect(new Set(flaky.sentTaskIds()).size).toBe(1_000);
  });

  it('marks only the rejected task failed and queues the other 99', async () => {
    const picky = new FakeTransport();
    picky.onSend = (messages) => {
      const bad = messages.find((m) => m.parameters.i === 42);
      if (!bad) return undefined;
      picky.sent.push(messages.filter((m) => m !== bad));
      return {
        acknowledged: messages.filter((m) => m !== bad).map((m) => m.taskId),
        rejected: [{ taskId: bad.taskId, reason: 'message too large' }],
      };
    };
    const result = await submitHelloWorld(db.pool, picky, { n: 100, name: 'oversized' });
    expect(result).toMatchObject({ queued: 99, failed: 1 });
    const failed = await db.pool.query(`SELECT task_index, error FROM tasks WHERE job_id = $1 AND status = 'failed'`, [result.jobId]);
    expect(failed.rows).toEqual([{ task_index: 42, error: 'message too large' }]);
  });
});
