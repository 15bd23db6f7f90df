import { describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/core/ids.js';
import { type CliResult, parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { seededRandom } from '../support/random.js';
import { PARTIAL_BATCHES_SQL, serviceBusEnv } from '../support/servicebus-env.js';
import { useServiceBusFixture } from '../support/servicebus-fixture.js';
import { taskStatusCounts } from '../support/submit.js';
import { waitFor } from '../support/wait.js';

// Kills per protocol phase: 2 in `npm test` (every phase every run), more in `npm run chaos`.
const PER_PHASE = Math.max(1, Math.round(Number(process.env.GEO_CHAOS_POINTS ?? 8) / 4));
const SEED = Number(process.env.GEO_CHAOS_SEED ?? 20261201);
const N = 20_000;
const BATCHES = N / 100;

const fixture = useServiceBusFixture();

type Phase = 'after step 1' | 'during step 2' | 'between steps 2 and 3' | 'during a resume';
const PHASES: Phase[] = ['after step 1', 'during step 2', 'between steps 2 and 3', 'during a resume'];

/** Which occurrence of a phase each kill waits for (1 to 15), the same for a seed. */
function occurrences(count: number, seed: number): number[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: count }, () => 1 + Math.floor(rnd() * 15));
}

const cases = PHASES.flatMap((phase, p) => occurrences(PER_PHASE, SEED + p).map((k) => [phase, k] as const));

/** Starts a geo run that stops at the failpoint and kills it there; returns the batches it was handling. */
async function killAtFailpoint(args: string[], env: Record<string, string>, pauseAt: string): Promise<string[]> {
  const run = startGeo(args, { ...env, GEO_TEST_PAUSE_AT: pauseAt });
  let stderr = '';
  run.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let ended: CliResult | undefined;
  void run.done.then((r) => (ended = r));
  try {
    await waitFor(`the failpoint ${pauseAt}`, () => {
      if (ended) throw new Error(`geo ended before ${pauseAt} (exit ${ended.code}): ${ended.stderr}`);
      return /geo: paused at \w+ \(([^)]*)\)/.test(stderr);
    });
  } finally {
    // Killed whether or not the failpoint was reached: a run left paused would outlive the test.
    run.child.kill('SIGKILL');
    await run.done;
  }
  return /geo: paused at \w+ \(([^)]*)\)/.exec(stderr)![1]!.split(',');
}

describe(`geo submit killed with SIGKILL at each protocol phase (${PER_PHASE} per phase, seed ${SEED})`, () => {
  it.each(cases.map(([phase, k], i) => [i, phase, k] as const))(
    'crash %i %s (occurrence %i): the kill landed there, and resume + retry-pending leave every task once, delivered once',
    async (i, phase, k) => {
      const { db, peer } = fixture;
      const queue = `crash-${i}`;
      peer.createQueue(queue, { duplicateDetection: true });
      const env = serviceBusEnv(db, peer, queue);
      const name = `crash-${i}`;
      const args = ['submit', 'hello_world', '--n', String(N), '--param', `name=${name}`, '--json'];
      const jobId = jobIdFor('hello_world', { n: N, name });
      const onQueue = () => new Set(peer.queue(queue).messageIds());
      const batchRow = async (batchId: string) =>
        (await db.pool.query(`SELECT status, task_count, coalesce(claimed_until > now(), false) AS claimed FROM batches WHERE batch_id = $1`, [batchId]))
          .rows[0];
      const taskIdsOf = async (batchIds: string[]) =>
        (await db.pool.query(`SELECT task_id FROM tasks WHERE batch_id = ANY($1::text[])`, [batchIds])).rows.map((r) => r.task_id as string);

      if (phase === 'after step 1') {
        const batches = await killAtFailpoint(args, env, `written:${k}`);
        // Step 1 committed: the batches and all their tasks exist, pending; step 2 never ran for them.
        for (const batchId of batches) expect(await batchRow(batchId)).toMatchObject({ status: 'pending_queue', task_count: 100 });
        const delivered = onQueue();
        const tasks = await taskIdsOf(batches);
        expect(tasks).toHaveLength(batches.length * 100);
        expect(tasks.filter((id) => delivered.has(id))).toEqual([]);
      } else if (phase === 'between steps 2 and 3') {
        const batches = await killAtFailpoint(args, env, `sent:${k}`);
        // Step 2 acknowledged (every message is on the queue), step 3 never recorded it.
        const delivered = onQueue();
        for (const batchId of batches) expect((await batchRow(batchId)).status).toBe('pending_queue');
        const tasks = await taskIdsOf(batches);
        expect(tasks.length).toBeGreaterThan(0);
        expect(tasks.every((id) => delivered.has(id))).toBe(true);
      } else if (phase === 'during step 2') {
        // The k-th transfer onward is held by the broker without an answer: a send in flight.
        const run = startGeo(args, env);
        const ours = () => peer.transfers().filter((t) => t.queue === queue);
        let before = 0;
        try {
          await waitFor(`${k} transfers`, () => ours().length >= k);
          peer.faults.setLatencyMs(120_000);
          before = ours().length;
          await waitFor('a held transfer', () => ours().length > before);
        } finally {
          run.child.kill('SIGKILL');
          await run.done;
        }
        const held = ours().slice(before);
        peer.faults.setLatencyMs(0);
        // The broker received these transfers and never settled them (it stores a message only when it
        // acknowledges it): the sender died with the send in flight.
        expect(held.length).toBeGreaterThan(0);
        const delivered = onQueue();
        for (const transfer of held) {
          const batchId = String(transfer.messages[0]!.applicationProperties.batchId);
          expect((await batchRow(batchId)).status).toBe('pending_queue');
          expect(transfer.messages.every((m) => !delivered.has(String(m.messageId)))).toBe(true);
        }
      } else {
        await killAtFailpoint(args, env, `sent:${k}`);
        await waitFor('the killed sender leases to lapse', async () => !(await leasesLive(jobId)));
        // The resume claimed a batch the first run left pending, and died with it.
        const [resumed] = await killAtFailpoint(args, env, 'resumed:1');
        expect(await batchRow(resumed!)).toMatchObject({ status: 'pending_queue', claimed: true });
      }

      expect((await db.pool.query(PARTIAL_BATCHES_SQL, [jobId])).rows).toEqual([]);
      await waitFor('the killed sender leases to lapse', async () => !(await leasesLive(jobId)));
      const resumed = await runGeo(args, env);
      expect(resumed.code, resumed.stderr).toBe(0);
      const retried = await runGeo(['retry-pending', '--job', jobId, '--json'], env);
      expect(retried.code, retried.stderr).toBe(0);

      const tasks = await db.pool.query(`SELECT count(*)::int AS n, count(DISTINCT task_index)::int AS distinct_n FROM tasks WHERE job_id = $1`, [jobId]);
      expect(tasks.rows[0]).toEqual({ n: N, distinct_n: N });
      expect(await taskStatusCounts(db.pool, jobId)).toEqual({ queued: N });
      const batches = await db.pool.query(`SELECT status, count(*)::int AS n FROM batches WHERE job_id = $1 GROUP BY status`, [jobId]);
      expect(batches.rows).toEqual([{ status: 'queued', n: BATCHES }]);
      expect((await db.pool.query(PARTIAL_BATCHES_SQL, [jobId])).rows).toEqual([]);

      // Duplicate detection on: every task id is on the queue exactly once.
      const delivered = peer.queue(queue).messageIds();
      expect(delivered).toHaveLength(N);
      expect(new Set(delivered).size).toBe(N);

      const report = parseJsonOutput<{ batches: Array<{ tasks: number; counts: { queued: number } }> }>(await runGeo(['batches', jobId, '--json'], env));
      expect(report.batches).toHaveLength(BATCHES);
      expect(report.batches.every((b) => b.tasks === 100 && b.counts.queued === 100)).toBe(true);
      peer.deleteQueue(queue);

      async function leasesLive(id: string): Promise<boolean> {
        const { rows } = await db.pool.query(`SELECT count(*)::int AS n FROM batches WHERE job_id = $1 AND claimed_until > now()`, [id]);
        return rows[0].n > 0;
      }
    },
  );
});
