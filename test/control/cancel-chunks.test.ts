import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchIdFor, idPrefixFor } from '../../src/core/ids.js';
import { jobsCancel, tasksCancelOfEndedJob } from '../../src/store/control.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { taskStatusCounts, writePendingJob } from '../support/submit.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe("marking a cancelled job's unstarted tasks in chunks", () => {
  it('each chunk starts after the batch the one before it ended at; a batch held elsewhere is skipped, and left for a later pass', async () => {
    const jobId = await writePendingJob(db.pool, { n: 1_000, name: 'chunks' }, 'local');
    expect(await jobsCancel(db.pool, { jobId })).toBe('cancelled');
    // A sender holds one batch's row meanwhile (as a send in flight does).
    const held = batchIdFor(idPrefixFor(jobId), 1, 3);
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM batches WHERE batch_id = $1 FOR UPDATE', [held]);

      const ends: string[] = [];
      let cancelled = 0;
      let afterBatch: string | undefined;
      for (;;) {
        const chunk = await tasksCancelOfEndedJob(db.pool, { jobId, maxBatches: 2, afterBatch });
        if (chunk.lastBatch === undefined) break;
        expect(chunk.cancelled).toBeGreaterThan(0);
        ends.push(chunk.lastBatch);
        cancelled += chunk.cancelled;
        afterBatch = chunk.lastBatch;
      }
      // Nine batches in chunks of two, in batch order, none read twice.
      expect(ends).toEqual([...ends].sort());
      expect(new Set(ends).size).toBe(5);
      expect(cancelled).toBe(900);
      expect(await taskStatusCounts(db.pool, jobId)).toMatchObject({ cancelled: 900 });
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    // A cursor past the skipped batch leaves it alone; a pass from the start (a later cancel, a sweep) marks it.
    const last = batchIdFor(idPrefixFor(jobId), 1, 9);
    expect(await tasksCancelOfEndedJob(db.pool, { jobId, maxBatches: 100, afterBatch: last })).toEqual({ cancelled: 0, lastBatch: undefined });
    expect(await tasksCancelOfEndedJob(db.pool, { jobId, maxBatches: 100 })).toEqual({ cancelled: 100, lastBatch: held });
    expect(await taskStatusCounts(db.pool, jobId)).toEqual({ cancelled: 1_000 });
  });
});
