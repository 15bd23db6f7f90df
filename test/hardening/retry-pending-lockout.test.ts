import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { newClaimOwner } from '../../src/core/protocol/leases.js';
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
  heldByOthers: { batches: number; tasks: number };
  unreachable: Array<{ jobId: string; destination: string; reason: string }>;
  error?: { code: string; message: string };
}

describe('retry-pending that cannot send locks nothing out (real binary, Service Bus peer)', () => {
  it('broker down: exit 3; configuration missing: exit 2 naming the job; neither claims anything; then a healthy run recovers it all', async () => {
    const { db, peer } = fixture;
    const queue = 'lockout';
    peer.createQueue(queue, { duplicateDetection: true });
    const env = serviceBusEnv(db, peer, queue);
    const jobId = await writePendingJob(db.pool, { n: 1_000, name: 'lockout' });
    const destination = destinationOf('servicebus', loadConfig(env));
    await db.pool.query('UPDATE jobs SET destination = $2 WHERE job_id = $1', [jobId, JSON.stringify(destination)]);
    // One batch is another live process's: its claim must survive every run below.
    const otherToken = newClaimOwner(null).token;
    const { rows: held } = await db.pool.query<{ batchId: string }>(
      `UPDATE batches SET claimed_until = now() + interval '1 hour', claim_token = $2
       WHERE batch_id = (SELECT batch_id FROM batches WHERE job_id = $1 ORDER BY batch_index LIMIT 1)
       RETURNING batch_id AS "batchId"`,
      [jobId, otherToken],
    );
    const heldBatch = held[0]!.batchId;
    const snapshot = async () =>
      (
        await db.pool.query(
          `SELECT batch_id, status, attempts, claimed_until, claim_token, next_attempt_at, last_error
           FROM batches WHERE job_id = $1 ORDER BY batch_index`,
          [jobId],
        )
      ).rows;
    const before = await snapshot();
    expect(before).toHaveLength(10);

    peer.faults.refuseConnections(true);
    const down = await runGeo(['retry-pending', '--max-attempts', '1', '--json'], env);
    expect(down.code, down.stderr).toBe(3);
    expect(parseJsonOutput<RetryDoc>(down).error?.message).toContain(`Service Bus queue ${queue}`);
    expect(await snapshot()).toEqual(before);
    peer.faults.refuseConnections(false);

    const unconfigured = await runGeo(['retry-pending', '--json'], { ...env, GEO_SERVICEBUS_CONNECTION_STRING: undefined });
    expect(unconfigured.code, unconfigured.stderr).toBe(2);
    const unconfiguredDoc = parseJsonOutput<RetryDoc>(unconfigured);
    expect(unconfiguredDoc.unreachable).toEqual([
      expect.objectContaining({
        jobId,
        destination: `servicebus 127.0.0.1:${peer.port}/${queue}`,
        reason: expect.stringMatching(/GEO_SERVICEBUS_CONNECTION_STRING/),
      }),
    ]);
    expect(unconfiguredDoc.claimedBatches).toBe(0);
    expect(await snapshot()).toEqual(before);

    // Healthy: everything but the batch another process holds, which is reported, not hidden. No live
    // geo session vouches for that claim (only its lease does), so the work is left behind: exit 1.
    const healthy = await runGeo(['retry-pending', '--json'], env);
    expect(healthy.code, healthy.stderr).toBe(1);
    expect(parseJsonOutput<RetryDoc>(healthy)).toMatchObject({
      claimedBatches: 9,
      requeuedTasks: 900,
      stillPending: 100,
      heldByOthers: { batches: 1, tasks: 100 },
    });
    const { rows: heldNow } = await db.pool.query('SELECT status, claim_token FROM batches WHERE batch_id = $1', [heldBatch]);
    expect(heldNow[0]).toEqual({ status: 'pending_queue', claim_token: otherToken });

    // That process dies: once its lease lapses, the next run takes the batch over.
    await db.pool.query(`UPDATE batches SET claimed_until = now() - interval '1 second' WHERE batch_id = $1`, [heldBatch]);
    const last = await runGeo(['retry-pending', '--json'], env);
    expect(last.code, last.stderr).toBe(0);
    expect(parseJsonOutput<RetryDoc>(last)).toMatchObject({ claimedBatches: 1, requeuedTasks: 100, stillPending: 0, heldByOthers: { batches: 0 } });
    expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: 1_000 });
    const ids = peer.queue(queue).messageIds();
    expect(ids).toHaveLength(1_000);
    expect(new Set(ids).size).toBe(1_000);
  });

  it('--include-failed with the configuration missing: exit 2 and the failed batches stay failed and unclaimed', async () => {
    const { db, peer } = fixture;
    const queue = 'lockout-failed';
    peer.createQueue(queue, { duplicateDetection: true });
    const env = serviceBusEnv(db, peer, queue);
    const jobId = await writePendingJob(db.pool, { n: 300, name: 'lockout-failed' });
    await db.pool.query('UPDATE jobs SET destination = $2 WHERE job_id = $1', [jobId, JSON.stringify(destinationOf('servicebus', loadConfig(env)))]);
    // Given up on by an earlier run: batches and their tasks failed, counted on the stage.
    await db.pool.query(`UPDATE batches SET status = 'failed', attempts = 10, last_error = 'gave up' WHERE job_id = $1`, [jobId]);
    await db.pool.query(`UPDATE tasks SET status = 'failed', error = 'gave up', completed_at = now() WHERE job_id = $1`, [jobId]);
    await db.pool.query(`UPDATE stages SET failed_count = 300 WHERE job_id = $1`, [jobId]);
    const snapshot = async () =>
      (
        await db.pool.query(
          `SELECT b.batch_id, b.status, b.attempts, b.claimed_until, b.claim_token,
                  (SELECT count(*)::int FROM tasks t WHERE t.batch_id = b.batch_id AND t.status = 'failed') AS failed
           FROM batches b WHERE b.job_id = $1 ORDER BY b.batch_index`,
          [jobId],
        )
      ).rows;
    const before = await snapshot();

    const unconfigured = await runGeo(['retry-pending', '--include-failed', '--json'], { ...env, GEO_SERVICEBUS_CONNECTION_STRING: undefined });
    expect(unconfigured.code, unconfigured.stderr).toBe(2);
    expect(parseJsonOutput<RetryDoc>(unconfigured).unreachable).toEqual([expect.objectContaining({ jobId })]);
    expect(await snapshot()).toEqual(before);

    const healthy = await runGeo(['retry-pending', '--include-failed', '--json'], env);
    expect(healthy.code, healthy.stderr).toBe(0);
    expect(parseJsonOutput<RetryDoc>(healthy)).toMatchObject({ claimedBatches: 3, requeuedTasks: 300, stillPending: 0 });
    expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: 300 });
  });
});
