import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Azurite, drainQueue, queueClientFor, startAzurite } from '../../support/azurite.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { dispatchHarness, greetings, taskIdOf } from './dispatch-support.js';

let azurite: Azurite;
let db: TestDatabase;

beforeAll(async () => {
  [azurite, db] = await Promise.all([startAzurite(), createTestDatabase()]);
});

afterAll(async () => {
  // Every clean-up runs to its end before the first failure is reported.
  const failed = (await Promise.allSettled([azurite?.dispose(), db?.drop()])).find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});

describe('storage-queue message size limit', () => {
  it.each(['base64', 'text'] as const)('fails only the tasks too big after %s encoding; the rest arrive', async (encoding) => {
    const h = dispatchHarness(db.pool, azurite);
    const jobId = await h.newJob(`oversized-${encoding}`);
    const queue = `oversized-${encoding}`;
    // 50,000 characters fit 64 KiB as text but not as base64 (4/3 larger); 70,000 fit neither.
    const sizes: Record<number, number> = { 7: 50_000, 42: 70_000 };
    const result = await h.dispatch({
      jobId,
      transport: await h.transport(queue, encoding),
      count: 150,
      tasks: greetings(150, (i) => ({ i, blob: 'x'.repeat(sizes[i] ?? 10) })),
    });
    const tooBig = (encoding === 'base64' ? [7, 42] : [42]).map((i) => `${jobId.slice(0, 16)}-s1-greet-${i}`);
    expect(result).toMatchObject({ queued: 150 - tooBig.length, failed: tooBig.length, pendingQueue: 0 });
    expect(result.stoppedBy).toBeUndefined();

    const tasks = await h.tasks(jobId);
    for (const id of tooBig) {
      expect(tasks.get(id)!.status).toBe('failed');
      expect(tasks.get(id)!.error).toMatch(new RegExp(`bytes after ${encoding} encoding.*65,536 bytes \\(64 KiB\\)`));
    }
    const arrived = (await drainQueue(queueClientFor(azurite, queue), { expected: 150 - tooBig.length })).map((t) => taskIdOf(t, encoding));
    expect(arrived).toHaveLength(150 - tooBig.length);
    expect(new Set(arrived).size).toBe(150 - tooBig.length);
    for (const id of tooBig) expect(arrived).not.toContain(id);
  });
});
