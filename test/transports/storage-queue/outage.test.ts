import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskDefinition } from '../../../src/core/job-types/job-type.js';
import { type Azurite, drainQueue, queueClientFor, startAzurite } from '../../support/azurite.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { sleep } from '../../support/wait.js';
import { dispatchHarness, greetings, taskIdOf } from './dispatch-support.js';

let azurite: Azurite;
let db: TestDatabase;

beforeAll(async () => {
  // Persistent: the messages sent before the outage must survive the restart.
  [azurite, db] = await Promise.all([startAzurite({ persistent: true }), createTestDatabase()]);
});

afterAll(async () => {
  // Every clean-up runs to its end before the first failure is reported.
  const failed = (await Promise.allSettled([azurite?.dispose(), db?.drop()])).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});

describe('storage-queue outage', () => {
  it('leaves what Azurite did not take pending with its error, and completes it when Azurite is back', async () => {
    const h = dispatchHarness(db.pool, azurite);
    const jobId = await h.newJob('outage');
    const transport = await h.transport('outage');
    const count = 1000;
    // Small batches, so the run spans several of the dispatcher's groups of
    // batches. Azurite goes away as soon as some tasks are queued, i.e. when
    // the first group has been sent and recorded while others are in flight
    // and the last tasks are not yet written.
    const batchSize = 20;
    let stopped = false;
    async function* stopping(): AsyncGenerator<TaskDefinition> {
      for (const task of greetings(count)) {
        if (!stopped && task.index % batchSize === 0 && (await h.queuedCount(jobId)) > 0) {
          stopped = true;
          await azurite.stop();
        }
        yield task;
      }
    }
    const first = await h.dispatch({ jobId, transport, count, batchSize, tasks: stopping() });
    expect(stopped).toBe(true);
    expect(first.stoppedBy).toMatchObject({ code: 'TRANSPORT_UNAVAILABLE', kind: 'dependency' });
    expect(first.queued).toBeGreaterThan(0);
    expect(first.pendingQueue).toBeGreaterThan(0);
    expect(first.queued + first.pendingQueue + first.notWritten).toBe(count);

    const afterOutage = await h.tasks(jobId);
    const pendingIds = new Set([...afterOutage].filter(([, t]) => t.status === 'pending_queue').map(([id]) => id));
    expect(pendingIds.size).toBe(first.pendingQueue);
    expect([...afterOutage.values()].every((t) => t.status === 'queued' || t.status === 'pending_queue')).toBe(true);
    const { rows: pendingBatches } = await db.pool.query<{ lastError: string | null }>(
      `SELECT last_error AS "lastError" FROM batches WHERE job_id = $1 AND status = 'pending_queue'`,
      [jobId],
    );
    expect(pendingBatches.length).toBeGreaterThan(0);
    for (const b of pendingBatches) expect(b.lastError).toMatch(/storage queue outage in account devstoreaccount1/);

    await azurite.start();
    // Time is the point: the first run's 1 s batch leases must lapse before the second run may take them.
    await sleep(1_100);
    const second = await h.dispatch({ jobId, transport, count, batchSize, tasks: greetings(count) });
    expect(second.stoppedBy).toBeUndefined();
    expect(second).toMatchObject({ queued: count, pendingQueue: 0, failed: 0, notWritten: 0 });
    expect([...(await h.tasks(jobId)).values()].every((t) => t.status === 'queued')).toBe(true);

    // Every task arrives at least once. A duplicate can only be a task the
    // outage left unconfirmed (its acknowledgement lost with the connection):
    // a task once marked queued is never sent again.
    const arrived = (await drainQueue(queueClientFor(azurite, 'outage'), { expected: count })).map((t) => taskIdOf(t));
    const all = [...greetings(count)].map((t) => `${jobId.slice(0, 16)}-s1-${t.key}`);
    expect(all.filter((id) => !arrived.includes(id))).toEqual([]);
    const seen = new Set<string>();
    const duplicates = arrived.filter((id) => seen.has(id) || !seen.add(id));
    expect(duplicates.filter((id) => !pendingIds.has(id))).toEqual([]);
  });
});
