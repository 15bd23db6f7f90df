import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { busyError, FakeTransport } from '../support/fake-transport.js';
import { submitHelloWorld } from '../support/submit.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('every send attempt leaves a trace', () => {
  it('a batch sent three times within one submit (two retryable failures) has attempts = 3 and the last failure as last_error', async () => {
    const transport = new FakeTransport('servicebus');
    transport.onSend = (_messages, sendNumber) => {
      if (sendNumber <= 2) throw busyError(`server busy, attempt ${sendNumber}`);
      return undefined;
    };
    // FAST_SEND_POLICY allows 3 sends of a batch within the run.
    const result = await submitHelloWorld(db.pool, transport, { n: 100, name: 'attempts' });
    expect(result).toMatchObject({ batches: 1, queued: 100, pendingQueue: 0, failed: 0 });
    expect(transport.sent).toHaveLength(1);

    const { rows } = await db.pool.query('SELECT status, attempts, last_error FROM batches WHERE job_id = $1', [result.jobId]);
    expect(rows).toEqual([{ status: 'queued', attempts: 3, last_error: 'server busy, attempt 2' }]);
  });
});
