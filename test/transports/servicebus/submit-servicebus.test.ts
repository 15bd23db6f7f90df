import { beforeEach, describe, expect, it } from 'vitest';
import { taskMessageSchema } from '../../../src/transports/message.js';
import { parseJsonOutput, runGeo } from '../../support/cli.js';
import { serviceBusEnv } from '../../support/servicebus-env.js';
import { useServiceBusFixture } from '../../support/servicebus-fixture.js';
import { DEFAULT_TEST_KEY } from '../../support/servicebus-peer/index.js';
import { drainQueue } from '../../support/servicebus-receive.js';
import { taskStatusCounts } from '../../support/submit.js';

const fixture = useServiceBusFixture();
let queue: string;
let queueNumber = 0;

beforeEach(() => {
  queue = `tasks-${++queueNumber}`;
  fixture.peer.createQueue(queue, { duplicateDetection: true });
  fixture.peer.resetStats();
});

function env(): Record<string, string> {
  return serviceBusEnv(fixture.db, fixture.peer, queue, { GEO_LEASE_SECONDS: '5' });
}

const statusCounts = (jobId: string) => taskStatusCounts(fixture.db.pool, jobId);

describe('geo submit --transport servicebus', () => {
  it('10,000 tasks arrive exactly once, valid, in batch sends of at most 100', async () => {
    const { peer } = fixture;
    const result = await runGeo(['submit', 'hello_world', '--n', '10000', '--param', 'name=sb', '--json'], env());
    expect(result.code, result.stderr).toBe(0);
    const doc = parseJsonOutput(result);
    expect(doc).toMatchObject({ transport: 'servicebus', tasks: 10_000, batches: 100, queued: 10_000, pendingQueue: 0, failed: 0 });

    const accepted = peer.transfers().filter((t) => t.outcome === 'accepted');
    expect(accepted).toHaveLength(100);
    expect(Math.max(...accepted.map((t) => t.messages.length))).toBe(100);

    const bodies = await drainQueue(peer.connectionString(), queue, 10_000);
    const ids = bodies.map((b) => taskMessageSchema.parse(b).taskId);
    expect(ids).toHaveLength(10_000);
    expect(new Set(ids).size).toBe(10_000);
    const first = taskMessageSchema.parse(bodies.find((b) => (b as { taskId: string }).taskId.endsWith('-s1-greet-0')));
    expect(first).toMatchObject({ jobId: doc.jobId, jobType: 'hello_world', taskType: 'greeting', stage: 1, delivery: 0 });
    expect(first.batchId).toBe(`${String(doc.jobId).slice(0, 16)}-s1-b0`);
    expect(first.parameters).toEqual({ i: 0, message: 'Hello sb from task 0!' });
    expect(await statusCounts(String(doc.jobId))).toEqual({ queued: 10_000 });
  });

  it('with duplicate detection on, a forced re-send of every batch delivers nothing twice', async () => {
    const { db, peer } = fixture;
    const args = ['submit', 'hello_world', '--n', '1000', '--param', 'name=dupes', '--json'];
    const first = parseJsonOutput(await runGeo(args, env()));
    // Force a re-send: put every batch back to pending_queue as if step 3 had never run.
    await db.pool.query(`UPDATE tasks SET status = 'pending_queue' WHERE job_id = $1`, [first.jobId]);
    await db.pool.query(`UPDATE batches SET status = 'pending_queue', claimed_until = NULL WHERE job_id = $1`, [first.jobId]);
    const second = await runGeo(args, env());
    expect(second.code, second.stderr).toBe(0);
    expect(parseJsonOutput(second)).toMatchObject({ queued: 1_000, createdTasks: 0 });
    expect(peer.transfers().filter((t) => t.outcome === 'accepted')).toHaveLength(20);
    expect(peer.queue(queue).duplicatesDropped()).toBe(1_000);
    expect(peer.queue(queue).activeCount()).toBe(1_000);
  });

  it('10% of transfers rejected server-busy: the submit completes and nothing is lost', async () => {
    const { peer } = fixture;
    peer.faults.rejectTransfersRandomly(0.1, 'com.microsoft:server-busy', 7);
    const result = await runGeo(['submit', 'hello_world', '--n', '5000', '--param', 'name=busy', '--json'], env());
    expect(result.code, result.stderr).toBe(0);
    expect(parseJsonOutput(result)).toMatchObject({ queued: 5_000, pendingQueue: 0, failed: 0 });
    expect(peer.transfers().some((t) => t.outcome === 'rejected')).toBe(true);
    expect(peer.queue(queue).activeCount()).toBe(5_000);
  });

  it('a connection dropped mid-submit: everything arrives, nothing lost', async () => {
    const { peer } = fixture;
    peer.faults.dropConnectionAfterTransfers(20);
    const result = await runGeo(['submit', 'hello_world', '--n', '5000', '--param', 'name=drop', '--json'], env());
    expect(result.code, result.stderr).toBe(0);
    expect(parseJsonOutput(result)).toMatchObject({ queued: 5_000, pendingQueue: 0 });
    expect(peer.transfers().some((t) => t.outcome === 'dropped')).toBe(true);
    expect(peer.queue(queue).activeCount()).toBe(5_000);
  });

  it('a wrong key: exit 3 before anything is written, naming namespace and queue, never the key', async () => {
    const { db, peer } = fixture;
    const wrongKey = Buffer.from('definitely-not-the-right-key').toString('base64');
    const result = await runGeo(['submit', 'hello_world', '--n', '100', '--param', 'name=wrongkey'], {
      ...env(),
      GEO_SERVICEBUS_CONNECTION_STRING: peer.connectionString({ key: wrongKey }),
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`Service Bus queue ${queue} in namespace 127.0.0.1:${peer.port}`);
    expect(result.stderr).toMatch(/UnauthorizedAccess/);
    expect(result.stdout + result.stderr).not.toContain(wrongKey);
    expect(result.stdout + result.stderr).not.toContain(DEFAULT_TEST_KEY);
    const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM jobs WHERE parameters->>'name' = 'wrongkey'`);
    expect(rows[0].n).toBe(0);
  });

  it('access revoked mid-submit: the run stops promptly, batches stay pending_queue with last_error, exit 3', async () => {
    const { db, peer } = fixture;
    peer.faults.rejectNextTransfers(1_000, 'amqp:unauthorized-access', 'key revoked');
    const result = await runGeo(['submit', 'hello_world', '--n', '3000', '--param', 'name=revoked', '--json'], env());
    expect(result.code).toBe(3);
    const doc = parseJsonOutput(result);
    expect(doc.queued).toBe(0);
    expect(doc.pendingQueue).toBeGreaterThan(0);
    expect((doc.error as { message: string }).message).toContain(`Service Bus queue ${queue}`);
    expect(result.stdout + result.stderr).not.toContain(DEFAULT_TEST_KEY);
    const { rows } = await db.pool.query(`SELECT status, last_error FROM batches WHERE job_id = $1`, [doc.jobId]);
    // Stopped promptly: at most the batches in flight (4 groups of 10) were written.
    expect(rows.length).toBeLessThanOrEqual(40);
    for (const row of rows) {
      expect(row.status).toBe('pending_queue');
      expect(row.last_error).toMatch(/Unauthorized/i);
    }
  });

  it('a missing queue is exit 2 naming it, with nothing written', async () => {
    const result = await runGeo(['submit', 'hello_world', '--n', '10', '--param', 'name=noqueue'], {
      ...env(),
      GEO_SERVICEBUS_QUEUE: 'no-such-queue',
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Service Bus queue no-such-queue in namespace .* does not exist/);
  });
});
