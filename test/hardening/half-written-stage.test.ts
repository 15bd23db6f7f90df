import { describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/core/ids.js';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { PARTIAL_BATCHES_SQL, serviceBusEnv } from '../support/servicebus-env.js';
import { useServiceBusFixture } from '../support/servicebus-fixture.js';
import { taskStatusCounts } from '../support/submit.js';
import { waitFor } from '../support/wait.js';

const fixture = useServiceBusFixture();
const N = 3_000;

interface StageDoc {
  stage: number;
  expectedTasks: number;
  writtenTasks: number;
}

interface RetryDoc {
  stillPending: number;
  notWritten: number;
  stages: Array<{ jobId: string; stage: number; expectedTasks: number; writtenTasks: number; finished: boolean; error?: { code: string } }>;
  error?: { code: string };
}

describe('a submit interrupted half-way (real binary, Service Bus peer)', () => {
  it('geo batches names the half-written stage; retry-pending says what is left until it has written and sent every task once', async () => {
    const { db, peer } = fixture;
    const queue = 'half-written';
    peer.createQueue(queue, { duplicateDetection: true });
    peer.faults.setLatencyMs(100);
    const env = serviceBusEnv(db, peer, queue);
    const name = 'half';
    const jobId = jobIdFor('hello_world', { n: N, name });

    const run = startGeo(['submit', 'hello_world', '--n', String(N), '--param', `name=${name}`, '--concurrency', '1', '--json'], env);
    try {
      await waitFor('the first batches', async () =>
        (await db.pool.query('SELECT 1 FROM batches WHERE job_id = $1', [jobId])).rowCount! > 0 ? true : undefined,
      );
      run.child.kill('SIGINT');
    } catch (err) {
      run.child.kill('SIGKILL');
      throw err;
    }
    const interrupted = await run.done;
    // An interrupted geo ends as killed by the signal (a shell reports 130), after its summary.
    expect({ code: interrupted.code, signal: interrupted.signal }, interrupted.stderr).toEqual({ code: null, signal: 'SIGINT' });
    const submitted = parseJsonOutput<{ notWritten: number; error: { code: string } }>(interrupted);
    expect(submitted.error.code).toBe('INTERRUPTED');
    expect(submitted.notWritten).toBeGreaterThan(0);

    const written = (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM tasks WHERE job_id = $1', [jobId])).rows[0]!.n;
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(N);
    const batchesDoc = parseJsonOutput<{ stages: StageDoc[] }>(await runGeo(['batches', jobId, '--json'], env));
    expect(batchesDoc.stages).toEqual([expect.objectContaining({ stage: 1, expectedTasks: N, writtenTasks: written })]);
    const human = await runGeo(['batches', jobId], env);
    expect(human.stdout + human.stderr).toMatch(
      new RegExp(`problem: stage 1 \\(greeting\\) is not fully written: ${written.toLocaleString('en-US')} of ${N.toLocaleString('en-US')} tasks`),
    );

    // The interrupted writer gave its lease on the stage up (or it lapsed); retry-pending may take it.
    await waitFor('the writer lease to be free', async () =>
      (await db.pool.query(`SELECT 1 FROM stages WHERE job_id = $1 AND (claimed_until IS NULL OR claimed_until < now())`, [jobId])).rowCount! > 0
        ? true
        : undefined,
    );

    // A run that cannot finish (every transfer refused) exits non-zero and says how much is not written.
    peer.faults.rejectNextTransfers(1_000_000, 'amqp:unauthorized-access', 'access revoked');
    const blocked = await runGeo(['retry-pending', '--concurrency', '1', '--json'], env);
    expect(blocked.code, blocked.stderr).toBe(3);
    const blockedDoc = parseJsonOutput<RetryDoc>(blocked);
    expect(blockedDoc.error?.code).toBe('SERVICEBUS_UNAUTHORIZED_ACCESS');
    // It wrote one group of batches (now pending), and stopped before the rest.
    expect(blockedDoc.stillPending).toBeGreaterThan(0);
    expect(blockedDoc.notWritten).toBeGreaterThan(0);
    expect(blockedDoc.stages).toEqual([expect.objectContaining({ jobId, stage: 1, expectedTasks: N, finished: false })]);
    expect(blockedDoc.stages[0]!.writtenTasks).toBe(N - blockedDoc.notWritten);
    peer.faults.clear();

    const healthy = await runGeo(['retry-pending', '--json'], env);
    expect(healthy.code, healthy.stderr).toBe(0);
    const healthyDoc = parseJsonOutput<RetryDoc>(healthy);
    expect(healthyDoc).toMatchObject({ stillPending: 0, notWritten: 0 });
    expect(healthyDoc.stages).toEqual([expect.objectContaining({ jobId, stage: 1, expectedTasks: N, writtenTasks: N, finished: true })]);

    expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: N });
    const { rows } = await db.pool.query(
      `SELECT count(*)::int AS tasks, count(DISTINCT task_index)::int AS indexes,
              (SELECT status FROM stages WHERE job_id = $1 AND stage = 1) AS stage
       FROM tasks WHERE job_id = $1`,
      [jobId],
    );
    expect(rows[0]).toEqual({ tasks: N, indexes: N, stage: 'processing' });
    expect((await db.pool.query(PARTIAL_BATCHES_SQL, [jobId])).rows).toEqual([]);
    const ids = peer.queue(queue).messageIds();
    expect(ids).toHaveLength(N);
    expect(new Set(ids).size).toBe(N);

    const after = await runGeo(['batches', jobId], env);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout + after.stderr).not.toMatch(/problem: stage/);
  });
});
