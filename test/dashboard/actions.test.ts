import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { advanceStages } from '../../src/core/advance.js';
import { coreActions } from '../../src/dashboard/core-actions.js';
import type { Dashboard } from '../../src/dashboard/server.js';
import { tasksClaimNext, tasksFail } from '../../src/store/completion.js';
import { createProducer } from '../../src/transports/index.js';
import type { TransportProducer } from '../../src/transports/transport.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { submitHelloWorld } from '../support/submit.js';
import { getJson, startTestDashboard } from './support.js';

let db: TestDatabase;
let producer: TransportProducer;
let dashboard: Dashboard;

beforeAll(async () => {
  db = await createTestDatabase();
  producer = await createProducer('local', loadConfig({ DATABASE_URL: db.url }));
  dashboard = await startTestDashboard(db.pool, { allowActions: true, actions: coreActions(db.pool, async () => producer) });
});
afterAll(async () => {
  await dashboard?.close();
  await producer?.close();
  await db.drop();
});

async function act(jobId: string, action: string, body: Record<string, unknown> = {}) {
  const res = await fetch(`${dashboard.url}api/jobs/${jobId}/actions/${action}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ confirm: jobId, ...body }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function job(jobId: string) {
  const { rows } = await db.pool.query<{ status: string; paused: boolean; errors: { reason?: string } | null }>(
    `SELECT status, paused_at IS NOT NULL AS paused, errors FROM jobs WHERE job_id = $1`,
    [jobId],
  );
  return rows[0]!;
}

describe('dashboard actions connected to the core (--allow-actions)', () => {
  it('offers pause, resume, retry-failed and cancel, and each does what its command does, answering its --json document', async () => {
    expect(await getJson(`${dashboard.url}api/dashboard`)).toMatchObject({ actions: ['pause', 'resume', 'retry-failed', 'cancel'] });
    const { jobId } = await submitHelloWorld(db.pool, producer, { n: 4, name: 'dashboard-actions' });

    expect(await act(jobId, 'pause')).toEqual({ status: 200, body: { action: 'pause', jobId, result: { jobId, outcome: 'paused' } } });
    expect(await job(jobId)).toMatchObject({ status: 'processing', paused: true });
    expect((await act(jobId, 'resume')).body).toEqual({ action: 'resume', jobId, result: { jobId, outcome: 'resumed' } });
    expect(await job(jobId)).toMatchObject({ paused: false });

    // Its tasks fail for good and the job fails; retry-failed reopens it.
    const claimed = await tasksClaimNext({ db: db.pool, worker: 'dashboard-test', maxTasks: 10, leaseSeconds: 60, jobTypes: ['hello_world'] });
    expect(claimed).toHaveLength(4);
    for (const task of claimed) await tasksFail({ db: db.pool, taskId: task.taskId, claim: task.claim, error: 'broken', retryable: false });
    await advanceStages({ db: db.pool, transportFor: async () => producer, options: { leaseSeconds: 30, concurrency: 1, batchSize: 100 } });
    expect((await job(jobId)).status).toBe('failed');
    expect((await act(jobId, 'retry-failed')).body).toEqual({ action: 'retry-failed', jobId, result: { jobId, outcome: 'reopened', tasks: 4, stages: 1 } });
    expect((await job(jobId)).status).toBe('processing');

    const cancelled = await act(jobId, 'cancel', { reason: 'wrong parameters' });
    expect(cancelled).toMatchObject({
      status: 200,
      body: { action: 'cancel', jobId, result: { jobId, outcome: 'cancelled', statementMs: expect.any(Number), tasksCancelled: 4, scheduledWithdrawn: 0 } },
    });
    expect(await job(jobId)).toMatchObject({ status: 'cancelled', errors: { reason: 'wrong parameters' } });
    expect((await act(jobId, 'cancel')).body).toMatchObject({ result: { outcome: 'already-cancelled' } });
  });

  it("an action that cannot apply is answered 400 with the command's error code, and changes nothing", async () => {
    const { jobId } = await submitHelloWorld(db.pool, producer, { n: 1, name: 'dashboard-ended' });
    await db.pool.query(`SELECT geo_cancel_job($1, NULL, NULL)`, [jobId]);
    for (const action of ['pause', 'resume']) {
      const res = await act(jobId, action);
      expect(res.status, action).toBe(400);
      expect(res.body).toMatchObject({ error: { code: 'JOB_ENDED' } });
    }
    const retry = await act(jobId, 'retry-failed');
    expect(retry).toMatchObject({ status: 400, body: { error: { code: 'JOB_CANCELLED' } } });
    expect(await job(jobId)).toMatchObject({ status: 'cancelled', paused: false });
  });
});
