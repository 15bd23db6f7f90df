import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { jobIdFor } from '../../src/core/ids.js';
import { destinationOf } from '../../src/transports/index.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { serviceBusEnv } from '../support/servicebus-env.js';
import { useServiceBusFixture } from '../support/servicebus-fixture.js';
import { taskStatusCounts, writePendingJob } from '../support/submit.js';

const fixture = useServiceBusFixture();

interface RetryDoc {
  claimedBatches: number;
  requeuedTasks: number;
  stillPending: number;
  stages: Array<{ jobId: string; stage: number; writtenTasks: number; finished: boolean; heldByLiveWriter: boolean }>;
  unreachable: Array<{ jobId: string; destination: string; reason: string }>;
}

describe('each job is recovered to its own destination (real binary, Service Bus peer)', () => {
  it('one retry-pending sends two jobs to their two queues, and names the storage-queue job it cannot reach', async () => {
    const { db, peer } = fixture;
    const [queueA, queueB] = ['dest-a', 'dest-b'];
    for (const q of [queueA, queueB]) peer.createQueue(q, { duplicateDetection: true });

    // A storage-queue job, and no storage configuration at all in the environment below. Its stage is
    // left half written and is the oldest, so it is the first a run would pick to finish.
    const storageJob = await writePendingJob(db.pool, { n: 200, name: 'dest-storage' }, 'storage-queue');
    await db.pool.query('UPDATE jobs SET destination = $2 WHERE job_id = $1', [
      storageJob,
      JSON.stringify({ transport: 'storage-queue', host: 'devstoreaccount1', queue: 'geo-tasks' }),
    ]);
    await db.pool.query(`UPDATE stages SET status = 'queuing', created_at = now() - interval '1 hour' WHERE job_id = $1`, [storageJob]);
    const storageState = async () => (await db.pool.query('SELECT status, claimed_until, claim_token FROM stages WHERE job_id = $1', [storageJob])).rows;
    const storageBefore = await storageState();
    // Job A: written, every batch pending (as after a broker outage), recorded for queue A.
    const jobA = await writePendingJob(db.pool, { n: 300, name: 'dest-a' });
    const destinationA = destinationOf('servicebus', loadConfig(serviceBusEnv(db, peer, queueA)));
    await db.pool.query('UPDATE jobs SET destination = $2 WHERE job_id = $1', [jobA, JSON.stringify(destinationA)]);
    // Job B: submitted to queue B while the peer refuses every transfer, so it stops with its stage half done.
    peer.faults.rejectNextTransfers(1_000_000, 'amqp:unauthorized-access', 'not yet');
    const submitted = await runGeo(['submit', 'hello_world', '--n', '300', '--param', 'name=dest-b', '--json'], serviceBusEnv(db, peer, queueB));
    expect(submitted.code, submitted.stderr).toBe(3);
    expect(parseJsonOutput(submitted)).toMatchObject({ queued: 0, pendingQueue: 300 });
    peer.faults.clear();
    const jobB = jobIdFor('hello_world', { n: 300, name: 'dest-b' });
    const { rows: recorded } = await db.pool.query(`SELECT destination FROM jobs WHERE job_id = $1`, [jobB]);
    expect(recorded[0]!.destination).toEqual({ transport: 'servicebus', host: `127.0.0.1:${peer.port}`, queue: queueB });

    // Configured for queue A only; job B's queue comes from its own record.
    const env = serviceBusEnv(db, peer, queueA);
    const result = await runGeo(['retry-pending', '--json'], env);
    // It sent what it could (so not 2) and left a job behind (so not 0).
    expect(result.code, result.stderr).toBe(1);
    const doc = parseJsonOutput<RetryDoc>(result);
    // Job A's batches are claimed and re-sent; job B's stage is finished, its pending batches resumed:
    // every batch and task this run sent is counted, those of the stage it finished included.
    expect(doc).toMatchObject({ claimedBatches: 6, requeuedTasks: 600, sentTasks: 600, stillPending: 200 });
    expect(doc.stages).toEqual([
      expect.objectContaining({ jobId: jobB, stage: 1, writtenTasks: 300, finished: true }),
      expect.objectContaining({ jobId: storageJob, stage: 1, finished: false, heldByLiveWriter: false }),
    ]);
    expect(doc.unreachable).toEqual([
      expect.objectContaining({ jobId: storageJob, destination: 'storage-queue devstoreaccount1/geo-tasks', reason: expect.stringMatching(/GEO_STORAGE/) }),
    ]);
    for (const [jobId, q] of [
      [jobA, queueA],
      [jobB, queueB],
    ] as const) {
      const ids = peer.queue(q).messageIds();
      expect(ids).toHaveLength(300);
      expect(new Set(ids).size).toBe(300);
      expect(ids.every((id) => id.startsWith(`${jobId.slice(0, 16)}-s1-`))).toBe(true);
      expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: 300 });
    }
    expect(await taskStatusCounts(db.pool, storageJob)).toEqual({ pending_queue: 200 });
    // Not claimed either: a run that cannot reach a job writes nothing of it.
    expect(await storageState()).toEqual(storageBefore);

    // Only the unreachable job left: nothing can be done, a configuration problem (exit 2), said by name.
    const human = await runGeo(['retry-pending'], env);
    expect(human.code, human.stderr).toBe(2);
    expect(human.stdout + human.stderr).toContain(`not reachable: job ${storageJob.slice(0, 16)} (storage-queue devstoreaccount1/geo-tasks)`);
    expect(await taskStatusCounts(db.pool, storageJob)).toEqual({ pending_queue: 200 });
    expect(await storageState()).toEqual(storageBefore);
  });
});
