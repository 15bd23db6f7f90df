import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { tasksRequeueLapsed } from '../../src/store/redeliveries.js';
import { createLocalConsumer, createLocalProducer } from '../../src/transports/local.js';
import type { TransportConsumer } from '../../src/transports/transport.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { submitHelloWorld } from '../support/submit.js';
import { receiveAll } from './consumer-suite.js';

// The local consumer's queue is the tasks table: the broker-side checks of
// the shared suite become checks of the task rows (status, worker, attempt).
let db: TestDatabase;
let runs = 0;
const consumers: TransportConsumer[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});
// Each test's tasks are finished afterwards, so no test receives another's leftovers.
afterEach(async () => {
  await db.pool.query(`UPDATE tasks SET status = 'completed', worker = NULL, lease_until = NULL WHERE status <> 'completed'`);
});
afterAll(async () => {
  await Promise.all(consumers.map((c) => c.close()));
  await db?.drop();
});

function consumer(worker: string, leaseSeconds = 2): TransportConsumer {
  const c = createLocalConsumer(db.pool, { worker, leaseSeconds, jobTypes: ['hello_world'] });
  consumers.push(c);
  return c;
}

/** A fresh local job of `n` queued greeting tasks; returns its task ids. */
async function submit(n: number): Promise<string[]> {
  const submitted = await submitHelloWorld(db.pool, createLocalProducer(), { n, name: `local-consumer-${++runs}` });
  const { rows } = await db.pool.query<{ taskId: string }>('SELECT task_id AS "taskId" FROM tasks WHERE job_id = $1 AND stage = 1', [
    submitted.jobId,
  ]);
  return rows.map((r) => r.taskId);
}

async function row(taskId: string): Promise<{ status: string; worker: string | null; attempt: number }> {
  const { rows } = await db.pool.query('SELECT status, worker, attempt FROM tasks WHERE task_id = $1', [taskId]);
  return rows[0] as { status: string; worker: string | null; attempt: number };
}

describe('local consumer', () => {
  it('receive claims the tasks for the worker: each message says claimed, with its attempt', async () => {
    const ids = await submit(3);
    const received = await receiveAll(consumer('w-receive'), 3);
    expect(received.map((m) => m.message!.taskId).sort()).toEqual([...ids].sort());
    for (const m of received) {
      expect(m.claimed).toEqual({ claim: expect.stringMatching(/^\d+$/), attempt: 1, taskType: 'greeting', parameters: m.message!.parameters });
      expect(m.deliveryCount).toBe(1);
      expect(m.parseError).toBeUndefined();
      expect(await row(m.message!.taskId)).toEqual({ status: 'processing', worker: 'w-receive', attempt: 1 });
    }
  });

  it('complete and deadLetter leave the row to the completion API (it settles the task)', async () => {
    await submit(2);
    const c = consumer('w-settle');
    const [a, d] = await receiveAll(c, 2);
    await c.complete(a!);
    await c.deadLetter(d!, 'HandlerFailed', 'boom');
    for (const m of [a, d]) {
      expect(await row(m!.message!.taskId)).toEqual({ status: 'processing', worker: 'w-settle', attempt: 1 });
    }
  });

  it('two workers never receive the same task', async () => {
    const ids = await submit(200);
    const [a, b] = await Promise.all([receiveAll(consumer('w-a'), 100, 5_000), receiveAll(consumer('w-b'), 100, 5_000)]);
    const all = [...a!, ...b!].map((m) => m.message!.taskId);
    expect(all).toHaveLength(200);
    expect(new Set(all)).toEqual(new Set(ids));
  });

  it('abandon gives the claim back at once: another worker receives the task, the given-back attempt not counted', async () => {
    await submit(1);
    const [m] = await receiveAll(consumer('w-abandon'), 1);
    await consumer('w-abandon').abandon(m!);
    expect((await row(m!.message!.taskId)).status).toBe('queued');
    const [again] = await receiveAll(consumer('w-other'), 1, 1_000, 200);
    expect(again?.message?.taskId).toBe(m!.message!.taskId);
    expect(again!.claimed).toMatchObject({ attempt: 1 });
  });

  it('without renewal the lease runs out and, once the sweep put it back, another worker takes the task over', async () => {
    await submit(1);
    const [m] = await receiveAll(consumer('w-dies', 1), 1);
    await vi.waitFor(async () => expect((await tasksRequeueLapsed(db.pool, { limit: 10 })).requeued).toBe(1), { timeout: 5_000, interval: 200 });
    const [taken] = await receiveAll(consumer('w-heir', 1), 1, 5_000, 500);
    expect(taken?.message?.taskId).toBe(m!.message!.taskId);
    expect(await row(m!.message!.taskId)).toMatchObject({ worker: 'w-heir', attempt: 2 });
    await expect(consumer('w-dies', 1).renew(m!)).rejects.toMatchObject({ code: 'LOCK_LOST', retryable: false });
  });

  it('renew keeps the lease beyond its duration', async () => {
    await submit(1);
    const holder = consumer('w-holds', 1);
    const rival = consumer('w-rival', 1);
    const [m] = await receiveAll(holder, 1);
    const firstLeaseEnds = m!.lockedUntil.getTime();
    let renewals = 0;
    while (Date.now() < firstLeaseEnds + 2_000) {
      await holder.renew(m!);
      renewals++;
      expect(await rival.receive(1, 400)).toEqual([]);
    }
    expect(renewals).toBeGreaterThan(2);
    expect(await row(m!.message!.taskId)).toMatchObject({ status: 'processing', worker: 'w-holds', attempt: 1 });
  });
});
