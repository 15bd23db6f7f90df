import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';
import { idPrefixFor, jobIdFor } from '../../../src/core/ids.js';
import { DEFAULT_RETRY_POLICY } from '../../../src/core/job-types/job-type.js';
import { dispatchStage } from '../../../src/core/protocol/dispatch-stage.js';
import { jobsInsert } from '../../../src/store/jobs.js';
import { stagesEnsure } from '../../../src/store/stages.js';
import { createProducer } from '../../../src/transports/index.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { type ServiceBusPeer, startServiceBusPeer } from '../../support/servicebus-peer/index.js';
import { drainQueue } from '../../support/servicebus-receive.js';

let db: TestDatabase;
let peer: ServiceBusPeer;
beforeAll(async () => {
  db = await createTestDatabase();
  peer = await startServiceBusPeer({ queues: { 'geo-tasks': { duplicateDetection: true } } });
});
afterAll(async () => {
  await peer.close();
  await db.drop();
});

it('one task too large for Service Bus fails alone with a specific error; the other 99 arrive', async () => {
  const config = loadConfig({ GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString(), GEO_SERVICEBUS_TIMEOUT_MS: '2000' });
  const transport = await createProducer('servicebus', config);
  try {
    const jobId = jobIdFor('oversized', {});
    await jobsInsert(db.pool, {
      jobId,
      jobType: 'oversized',
      parameters: {},
      processingPath: 'servicebus',
      tasksAreMessages: false,
      destination: { transport: 'servicebus' },
      idPrefix: idPrefixFor(jobId),
      stageCount: 1,
    });
    // The stage row, as a submit writes it before dispatching (the failed task is counted on it).
    await stagesEnsure(db.pool, {
      jobId,
      stage: 1,
      name: 'big',
      taskCount: 100,
      batchSize: 100,
      retry: DEFAULT_RETRY_POLICY,
      acceptPartial: false,
      leaseSeconds: 30,
    });
    const tasks = Array.from({ length: 100 }, (_, i) => ({
      index: i,
      key: `t-${i}`,
      parameters: { i, payload: i === 37 ? 'x'.repeat(300_000) : 'small' },
    }));
    const result = await dispatchStage({
      db: db.pool,
      transport,
      job: { jobId, jobType: 'oversized', idPrefix: idPrefixFor(jobId) },
      stage: { stage: 1, taskType: 'big', taskCount: 100, batchSize: 100 },
      tasks,
      concurrency: 1,
      leaseSeconds: 30,
    });
    expect(result).toMatchObject({ queued: 99, failed: 1, pendingQueue: 0 });
    const failed = await db.pool.query(`SELECT task_index, error FROM tasks WHERE job_id = $1 AND status = 'failed'`, [jobId]);
    expect(failed.rows).toHaveLength(1);
    expect(failed.rows[0].task_index).toBe(37);
    expect(failed.rows[0].error).toMatch(/message of \d+ bytes exceeds the Service Bus limit of \d+ bytes/);
    const batch = await db.pool.query(`SELECT status FROM batches WHERE job_id = $1`, [jobId]);
    expect(batch.rows[0].status).toBe('queued');
    const bodies = await drainQueue(peer.connectionString(), 'geo-tasks', 99);
    expect(bodies).toHaveLength(99);
  } finally {
    await transport.close();
  }
});
