import { describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/core/ids.js';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { PARTIAL_BATCHES_SQL, serviceBusEnv } from '../support/servicebus-env.js';
import { useServiceBusFixture } from '../support/servicebus-fixture.js';
import { taskStatusCounts, writePendingJob } from '../support/submit.js';
import { sleep, waitFor } from '../support/wait.js';

const fixture = useServiceBusFixture();

const taskCounts = (jobId: string) => taskStatusCounts(fixture.db.pool, jobId);

describe('recovery from faults (real binary, Service Bus peer)', () => {
  it('the database connection terminated mid-batch: no partial batch, and the batch is completed later', async () => {
    const { db, peer } = fixture;
    const queue = 'db-terminate';
    peer.createQueue(queue, { duplicateDetection: true });
    peer.faults.setLatencyMs(20);
    const env = serviceBusEnv(db, peer, queue);
    const params = { n: 20_000, name: 'terminated' };
    const jobId = jobIdFor('hello_world', params);
    const args = ['submit', 'hello_world', '--n', '20000', '--param', 'name=terminated', '--json'];
    const run = startGeo(args, env);
    await waitFor('the submit to write 5 batches', async () => (await db.pool.query('SELECT 1 FROM batches WHERE job_id = $1', [jobId])).rowCount! >= 5, {
      timeoutMs: 20_000,
      intervalMs: 25,
    });
    // Terminate backends while they run step 1 (write batches) or step 3 (record sends) until
    // the run ends. A signal that lands just after a statement finished only costs the pool a
    // connection, and the run goes on; one that lands inside a statement ends the run (exit 3).
    let exited = false;
    const killed = run.done.finally(() => (exited = true));
    let terminated = 0;
    while (!exited) {
      const { rows } = await db.pool.query(
        `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
         WHERE application_name = 'geo' AND datname = current_database() AND state = 'active'
           AND (query LIKE 'WITH new_batches%' OR query LIKE 'WITH outcome%')`,
      );
      terminated += rows.filter((r) => r.done).length;
      // The cadence of the terminator, not a wait: it keeps firing until the run ends.
      await sleep(2);
    }
    const result = await killed;
    expect(terminated).toBeGreaterThan(0);
    expect([0, 3]).toContain(result.code);
    if (result.code === 3) {
      // The run that lost its database still says which job it was and that it stopped.
      const doc = parseJsonOutput<{ jobId: string; error: { code: string; message: string } }>(result);
      expect(doc.jobId).toBe(jobId);
      expect(doc.error).toMatchObject({ code: 'DATABASE_CONNECTION_LOST', message: expect.stringMatching(/lost the connection to PostgreSQL/) });
    }
    expect((await db.pool.query(PARTIAL_BATCHES_SQL, [jobId])).rows).toEqual([]);
    peer.faults.setLatencyMs(0);

    // Time is the point: the first run's 1 s batch leases must lapse before the re-run may take them.
    await sleep(1_100);
    expect((await runGeo(args, env)).code).toBe(0);
    expect((await runGeo(['retry-pending', '--job', jobId], env)).code).toBe(0);
    expect(await taskCounts(jobId)).toEqual({ queued: 20_000 });
    expect(new Set(peer.queue(queue).messageIds()).size).toBe(20_000);
    expect(peer.queue(queue).activeCount()).toBe(20_000);
  });

  it('a connection terminated outside the batch protocol: exit 3 naming the job, and a re-run queues every task', async () => {
    const { db, peer } = fixture;
    const queue = 'terminated-outside';
    peer.createQueue(queue, { duplicateDetection: true });
    const env = serviceBusEnv(db, peer, queue);
    const jobId = jobIdFor('hello_world', { n: 1_000, name: 'outside' });
    const args = ['submit', 'hello_world', '--n', '1000', '--param', 'name=outside', '--json'];
    // The stage row is written before any batch: held here, the submit's statement waits on the
    // lock, and is terminated there, a statement the batch protocol's stop handling never sees.
    const holder = await db.pool.connect();
    let run: ReturnType<typeof startGeo> | undefined;
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE stages IN EXCLUSIVE MODE');
      run = startGeo(args, env);
      const terminated = await waitFor(
        'the submit to wait on the stage lock',
        async () => {
          const { rows } = await db.pool.query(
            `SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity
             WHERE application_name = 'geo' AND datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO stages%'`,
          );
          return rows.some((r) => r.done);
        },
        { timeoutMs: 20_000, intervalMs: 20 },
      );
      expect(terminated).toBe(true);
    } finally {
      await holder.query('COMMIT');
      holder.release();
    }
    const result = await run!.done;
    expect(result.code, result.stderr).toBe(3);
    const doc = parseJsonOutput<{ jobId: string; error: { code: string } }>(result);
    expect(doc).toEqual({ jobId, error: { code: 'DATABASE_CONNECTION_LOST', message: expect.stringMatching(/lost the connection to PostgreSQL/) } });
    expect(result.stderr).toContain(`job ${jobId.slice(0, 12)}:`);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM stages WHERE job_id = $1', [jobId])).rows[0].n).toBe(0);

    expect((await runGeo(args, env)).code).toBe(0);
    expect(await taskCounts(jobId)).toEqual({ queued: 1_000 });
    expect(new Set(peer.queue(queue).messageIds()).size).toBe(1_000);
  });

  it('the broker unreachable during a submit: exit 3 with batches pending_queue; retry-pending sends them all later', async () => {
    const { db, peer } = fixture;
    const queue = 'unreachable';
    peer.createQueue(queue, { duplicateDetection: true });
    peer.faults.setLatencyMs(10);
    const env = serviceBusEnv(db, peer, queue);
    const params = { n: 5_000, name: 'unreachable' };
    const jobId = jobIdFor('hello_world', params);
    const run = startGeo(['submit', 'hello_world', '--n', '5000', '--param', 'name=unreachable', '--json'], env);
    await waitFor(
      'the submit to queue 3 batches',
      async () => (await db.pool.query(`SELECT 1 FROM batches WHERE job_id = $1 AND status = 'queued'`, [jobId])).rowCount! >= 3,
      { timeoutMs: 20_000, intervalMs: 25 },
    );
    peer.faults.refuseConnections(true);
    const failed = await run.done;
    expect(failed.code, failed.stderr).toBe(3);
    const doc = parseJsonOutput(failed);
    expect(doc.pendingQueue).toBeGreaterThan(0);
    const pending = await db.pool.query(`SELECT last_error FROM batches WHERE job_id = $1 AND status = 'pending_queue'`, [jobId]);
    expect(pending.rowCount).toBeGreaterThan(0);
    for (const row of pending.rows) expect(row.last_error).toBeTruthy();

    // Still down: retry-pending reports the dependency and leaves the batches for the next run.
    // Time is the point: the failed run's 1 s batch leases must lapse, so retry-pending may take the batches.
    await sleep(1_100);
    const whileDown = await runGeo(['retry-pending', '--job', jobId, '--json'], env);
    expect(whileDown.code).toBe(3);

    peer.faults.refuseConnections(false);
    peer.faults.setLatencyMs(0);
    await db.pool.query(`UPDATE batches SET next_attempt_at = now() WHERE job_id = $1`, [jobId]);
    const recovered = await runGeo(['retry-pending', '--job', jobId, '--json'], env);
    expect(recovered.code, recovered.stderr).toBe(0);
    expect(parseJsonOutput(recovered)).toMatchObject({ stillPending: 0, failed: 0 });
    // The rest of the job was never written: the same submit writes and sends it.
    expect((await runGeo(['submit', 'hello_world', '--n', '5000', '--param', 'name=unreachable'], env)).code).toBe(0);
    expect(await taskCounts(jobId)).toEqual({ queued: 5_000 });
    expect(new Set(peer.queue(queue).messageIds()).size).toBe(5_000);
  });

  it('three retry-pending processes at once over 500 pending batches send every batch exactly once', async () => {
    const { db, peer } = fixture;
    const queue = 'three-runs';
    peer.createQueue(queue); // duplicate detection off: a double send would show
    const jobId = await writePendingJob(db.pool, { n: 50_000, name: 'three-runs' });
    peer.resetStats();
    const env = serviceBusEnv(db, peer, queue, { GEO_LEASE_SECONDS: '30' });
    const runs = await Promise.all([1, 2, 3].map(() => runGeo(['retry-pending', '--json'], env)));
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    const claimed = runs.map((r) => Number(parseJsonOutput(r).claimedBatches));
    expect(claimed.reduce((a, b) => a + b, 0)).toBe(500);

    const sendsPerBatch = new Map<string, number>();
    for (const transfer of peer.transfers().filter((t) => t.outcome === 'accepted' && t.queue === queue)) {
      const batchId = String(transfer.messages[0]!.applicationProperties.batchId);
      sendsPerBatch.set(batchId, (sendsPerBatch.get(batchId) ?? 0) + 1);
    }
    expect(sendsPerBatch.size).toBe(500);
    expect([...sendsPerBatch.values()].every((n) => n === 1)).toBe(true);
    expect(peer.queue(queue).activeCount()).toBe(50_000);
    expect(await taskCounts(jobId)).toEqual({ queued: 50_000 });
  });

  it('retry-pending with nothing to do is silent and exits 0; --dry-run changes nothing', async () => {
    const { db, peer } = fixture;
    const env = serviceBusEnv(db, peer, 'unused');
    const quiet = await runGeo(['retry-pending', '--job', jobIdFor('hello_world', { n: 5_000, name: 'unreachable' })], env);
    expect(quiet).toMatchObject({ code: 0, stdout: '' });
    const jobId = await writePendingJob(db.pool, { n: 300, name: 'dry-run-cli' });
    const dry = await runGeo(['retry-pending', '--job', jobId, '--dry-run', '--json'], env);
    expect(dry.code).toBe(0);
    expect(parseJsonOutput<{ wouldClaim: unknown[] }>(dry).wouldClaim).toHaveLength(3);
    expect(await taskCounts(jobId)).toEqual({ pending_queue: 300 });
  });
});
