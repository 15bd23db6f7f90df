import { describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/core/ids.js';
import { TableBarrier } from '../support/barrier.js';
import { parseJsonOutput, startGeo } from '../support/cli.js';
import { PARTIAL_BATCHES_SQL, serviceBusEnv } from '../support/servicebus-env.js';
import { useServiceBusFixture } from '../support/servicebus-fixture.js';
import { taskStatusCounts } from '../support/submit.js';
import { waitFor } from '../support/wait.js';

const fixture = useServiceBusFixture();
const N = 10_000;

describe('two submits of one job, the first SIGKILLed mid-way (real binary, Service Bus peer)', () => {
  it("the second exits 0 with everything queued: it takes over the dead one's batches once their lease lapses", async () => {
    const { db, peer } = fixture;
    const queue = 'killed-midway';
    peer.createQueue(queue, { duplicateDetection: true });
    // Sends take a while, so batches sit pending under their sender's claim.
    peer.faults.setLatencyMs(50);
    const name = 'killed';
    const jobId = jobIdFor('hello_world', { n: N, name });
    const args = ['submit', 'hello_world', '--n', String(N), '--param', `name=${name}`, '--json'];
    const envFor = (app: string, extra: Record<string, string> = {}) => {
      const url = new URL(db.url);
      url.searchParams.set('application_name', app);
      return { ...serviceBusEnv(db, peer, queue, extra), DATABASE_URL: url.toString() };
    };

    const barrier = await TableBarrier.hold(db.pool, 'batches');
    // The first stops (for good) right after its first batch send, before recording it:
    // its batches are on the queue but pending_queue in SQL, under its live claim.
    const first = startGeo([...args, '--concurrency', '1'], envFor('killed-a', { GEO_TEST_PAUSE_AT: 'sent' }));
    const second = startGeo(args, envFor('killed-b'));
    let firstStderr = '';
    first.child.stderr!.on('data', (chunk: Buffer) => (firstStderr += chunk.toString()));
    try {
      try {
        await barrier.waitForBlocked((blocked) => ['killed-a', 'killed-b'].every((app) => blocked.some((b) => b.applicationName === app)));
      } finally {
        await barrier.release();
      }
      const paused = await waitFor('the first submit to pause after a send', () => /paused at sent \(([^)]+)\)/.exec(firstStderr)?.[1], {
        timeoutMs: 30_000,
      });
      const heldByFirst = paused.split(',');
      const { rows: before } = await db.pool.query(`SELECT batch_id, status, claimed_until > now() AS live FROM batches WHERE batch_id = ANY($1::text[])`, [
        heldByFirst,
      ]);
      expect(before).toHaveLength(heldByFirst.length);
      for (const row of before) expect(row).toMatchObject({ status: 'pending_queue', live: true });

      first.child.kill('SIGKILL');
      expect((await first.done).signal).toBe('SIGKILL');
      const result = await second.done;
      expect(result.code, result.stderr).toBe(0);
      const doc = parseJsonOutput<{ tasks: number; queued: number; pendingQueue: number; failed: number; createdTasks: number }>(result);
      expect(doc).toMatchObject({ tasks: N, queued: N, pendingQueue: 0, failed: 0 });
      // The first wrote batches the second did not create.
      expect(doc.createdTasks).toBeLessThan(N);

      const { rows } = await db.pool.query(`SELECT status, count(*)::int AS n FROM batches WHERE job_id = $1 GROUP BY status`, [jobId]);
      expect(rows).toEqual([{ status: 'queued', n: N / 100 }]);
      expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: N });
      expect((await db.pool.query(PARTIAL_BATCHES_SQL, [jobId])).rows).toEqual([]);
      // Each task is on the queue once: the second re-sent the dead one's batches (same message ids),
      // and duplicate detection dropped what the first had already delivered.
      const ids = peer.queue(queue).messageIds();
      expect(ids).toHaveLength(N);
      expect(new Set(ids).size).toBe(N);
      expect(peer.queue(queue).duplicatesDropped()).toBeGreaterThanOrEqual(heldByFirst.length * 100);
    } finally {
      // The paused one never ends by itself; a process that has exited ignores this.
      first.child.kill('SIGKILL');
      second.child.kill('SIGKILL');
    }
  });
});
