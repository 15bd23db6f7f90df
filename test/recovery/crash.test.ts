import { describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/core/ids.js';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { PARTIAL_BATCHES_SQL, serviceBusEnv } from '../support/servicebus-env.js';
import { useServiceBusFixture } from '../support/servicebus-fixture.js';

// `npm test` kills at 10 moments; `npm run chaos` at 50 (GEO_CHAOS_POINTS).
const POINTS = Number(process.env.GEO_CHAOS_POINTS ?? 10);
const SEED = Number(process.env.GEO_CHAOS_SEED ?? 20261122);
const N = 20_000;

const fixture = useServiceBusFixture();

/** Deterministic kill moments spread over a submit's life (start-up, dispatch, the end). */
function killMoments(count: number, seed: number): number[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return Array.from({ length: count }, () => Math.round(250 + next() * 2_750));
}

describe(`geo submit killed with SIGKILL at ${POINTS} moments (seed ${SEED})`, () => {
  const moments = killMoments(POINTS, SEED);
  it.each(moments.map((ms, i) => [i, ms]))('crash point %i at %i ms: resume + retry-pending leave every task once, delivered once', async (i, ms) => {
    const { db, peer } = fixture;
    const queue = `crash-${i}`;
    peer.createQueue(queue, { duplicateDetection: true });
    const env = serviceBusEnv(db, peer, queue);
    const args = ['submit', 'hello_world', '--n', String(N), '--param', `name=crash-${i}`, '--json'];

    const run = startGeo(args, env);
    await new Promise((r) => setTimeout(r, ms));
    run.child.kill('SIGKILL');
    await run.done;
    await new Promise((r) => setTimeout(r, 1_100)); // the killed run's leases (GEO_LEASE_SECONDS=1) lapse

    const jobId = jobIdFor('hello_world', { n: N, name: `crash-${i}` });
    expect((await db.pool.query(PARTIAL_BATCHES_SQL, [jobId])).rows).toEqual([]);

    const resumed = await runGeo(args, env);
    expect(resumed.code, resumed.stderr).toBe(0);
    const retried = await runGeo(['retry-pending', '--job', jobId, '--json'], env);
    expect(retried.code, retried.stderr).toBe(0);

    const tasks = await db.pool.query(
      `SELECT count(*)::int AS n, count(DISTINCT task_index)::int AS distinct_n,
              count(*) FILTER (WHERE status = 'queued')::int AS queued
       FROM tasks WHERE job_id = $1`,
      [jobId],
    );
    expect(tasks.rows[0]).toEqual({ n: N, distinct_n: N, queued: N });
    const batches = await db.pool.query(`SELECT status, count(*)::int AS n FROM batches WHERE job_id = $1 GROUP BY status`, [jobId]);
    expect(batches.rows).toEqual([{ status: 'queued', n: N / 100 }]);
    expect((await db.pool.query(PARTIAL_BATCHES_SQL, [jobId])).rows).toEqual([]);

    // Duplicate detection on: every task id is on the queue exactly once.
    const delivered = peer.queue(queue).messageIds();
    expect(delivered).toHaveLength(N);
    expect(new Set(delivered).size).toBe(N);

    const report = parseJsonOutput<{ batches: Array<{ tasks: number; counts: { queued: number } }> }>(
      await runGeo(['batches', jobId, '--json'], env),
    );
    expect(report.batches).toHaveLength(N / 100);
    expect(report.batches.every((b) => b.tasks === 100 && b.counts.queued === 100)).toBe(true);
    peer.deleteQueue(queue);
  });
});
