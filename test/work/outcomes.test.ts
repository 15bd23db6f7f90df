import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJobType } from '../../src/core/job-types/define.js';
import { registerJobTypes } from '../../src/core/job-types/registry.js';
import { MAX_RESULT_BYTES } from '../../src/core/work/result.js';
import { addStage, createJob } from '../store/completion/fixtures.js';
import { mostAtOnce } from '../support/intervals.js';
import { useWorkHarness } from './support/harness.js';
import { jobState, stageTasks } from './support/inspect.js';
import { runWorkers, submit } from './support/runtimes.js';

const harness = useWorkHarness('local');

/** When each handler of `timed_test` started and ended, by task. */
const intervals = new Map<string, { start: number; end: number; worker: string }>();
/** Calls of `results_test`'s handler, by task. */
const calls = new Map<string, number>();

const cyclic: Record<string, unknown> = { name: 'loop' };
cyclic.self = cyclic;

/** What `results_test` task i returns: a value JSON or jsonb cannot hold for 1-4, a plain one otherwise. */
function resultOf(i: number): unknown {
  switch (i) {
    case 1:
      return { v: 10n };
    case 2:
      return cyclic;
    case 3:
      return { nested: [{ text: 'a\u0000b' }] };
    case 4:
      return { blob: 'x'.repeat(MAX_RESULT_BYTES + 1) };
    default:
      return { i };
  }
}

registerJobTypes([
  {
    origin: 'test/work/outcomes.test.ts',
    jobType: defineJobType({
      name: 'results_test',
      params: z.object({ n: z.coerce.number().int().min(1), tag: z.string() }).strict(),
      stages: [
        {
          from: 'params',
          name: 'produce',
          count: (p) => p.n,
          *tasks(p) {
            for (let i = 0; i < p.n; i++) yield { key: `r-${i}`, parameters: { i } };
          },
          handler: (p, ctx) => {
            calls.set(ctx.taskId, (calls.get(ctx.taskId) ?? 0) + 1);
            return resultOf(Number(p.i));
          },
        },
      ],
    }),
  },
  {
    origin: 'test/work/outcomes.test.ts',
    jobType: defineJobType({
      name: 'timed_test',
      params: z.object({ n: z.coerce.number().int().min(1), ms: z.coerce.number().int().min(1), tag: z.string() }).strict(),
      stages: [
        {
          from: 'params',
          name: 'wait',
          count: (p) => p.n,
          *tasks(p) {
            for (let i = 0; i < p.n; i++) yield { key: `w-${i}`, parameters: { ms: p.ms } };
          },
          handler: async (p, ctx) => {
            const start = Date.now();
            await sleep(Number(p.ms));
            const { rows } = await harness.db.pool.query<{ worker: string }>(`SELECT worker FROM tasks WHERE task_id = $1`, [ctx.taskId]);
            intervals.set(ctx.taskId, { start, end: Date.now(), worker: rows[0]!.worker });
            return null;
          },
        },
      ],
    }),
  },
]);

describe('what a worker does with what handlers return and take', () => {
  it('a result JSON cannot hold fails only its own task, at once and for good, naming the bad value; the rest of its group completes', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const jobId = await submit(db, lane, 'results_test', { n: 9, tag: 'bad-results' });
      const [summary] = await runWorkers(db, lane, 1, { concurrency: 4 });
      expect(summary).toMatchObject({ tasks: 9, completed: 5, failed: 4, retried: 0 });
      const tasks = await stageTasks(db, jobId, 1);
      const byIndex = new Map(tasks.map((t) => [t.taskIndex, t]));
      expect(byIndex.get(1)).toMatchObject({ status: 'failed', error: expect.stringMatching(/^RESULT_NOT_JSON: result\.v is a BigInt/) });
      expect(byIndex.get(2)).toMatchObject({ status: 'failed', error: expect.stringMatching(/^RESULT_NOT_JSON: result\.self refers back/) });
      expect(byIndex.get(3)).toMatchObject({ status: 'failed', error: expect.stringMatching(/^RESULT_NOT_JSON: result\.nested\[0\]\.text contains a NUL/) });
      expect(byIndex.get(4)).toMatchObject({ status: 'failed', error: expect.stringMatching(/^RESULT_TOO_LARGE: /) });
      for (const i of [0, 5, 6, 7, 8]) expect(byIndex.get(i)).toMatchObject({ status: 'completed', result: { i } });
      // Once each: a result that cannot be stored is not retried.
      expect([...calls.values()]).toEqual(Array(9).fill(1));
      expect((await jobState(db, jobId)).status).toBe('failed');
    } finally {
      await lane.close();
    }
  }, 60_000);

  it('--concurrency N never runs more than N handlers at once, and runs N', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const jobId = await submit(db, lane, 'timed_test', { n: 12, ms: 150, tag: 'concurrency' });
      const [summary] = await runWorkers(db, lane, 1, { concurrency: 3 });
      expect(summary).toMatchObject({ tasks: 12, completed: 12 });
      const tasks = await stageTasks(db, jobId, 1);
      expect(mostAtOnce(tasks.map((t) => intervals.get(t.taskId)!))).toBe(3);
    } finally {
      await lane.close();
    }
  }, 60_000);

  it('slow work spreads over workers: a second worker started while the first is busy gets its share, and 6 slow tasks take one round', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const ms = 2_000;
      const jobId = await submit(db, lane, 'timed_test', { n: 6, ms, tag: 'spread' });
      const startedAt = Date.now();
      const first = runWorkers(db, lane, 1, { concurrency: 3 });
      // The second starts once the first is running its handlers.
      await expect.poll(async () => (await stageTasks(db, jobId, 1)).filter((t) => t.status === 'processing').length, { timeout: 10_000 }).toBe(3);
      const second = runWorkers(db, lane, 1, { concurrency: 3 });
      const [[a], [b]] = await Promise.all([first, second]);
      expect(a).toMatchObject({ tasks: 3, completed: 3 });
      expect(b).toMatchObject({ tasks: 3, completed: 3 });
      const tasks = await stageTasks(db, jobId, 1);
      const ends = tasks.map((t) => intervals.get(t.taskId)!.end);
      // One round of `ms`, not two: nothing waited behind the first worker's busy slots.
      expect(Math.max(...ends) - startedAt).toBeLessThan(2 * ms);
    } finally {
      await lane.close();
    }
  }, 60_000);

  it('a worker without a job type leaves that job alone, says so once, and --until-idle reports it (exit 1), tasks untouched', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const jobId = await createJob(db, { transport: 'local' });
      await db.query(`UPDATE jobs SET job_type = 'ghost_type' WHERE job_id = $1`, [jobId]);
      const { taskIds } = await addStage(db, jobId, { taskCount: 5 });
      const notices: string[] = [];
      const [summary] = await runWorkers(db, lane, 1, { onNotice: (m) => notices.push(m) });
      expect(notices.filter((m) => m.includes('"ghost_type"'))).toHaveLength(1);
      expect(summary!.jobsNotServed).toEqual([{ jobId, jobType: 'ghost_type', tasks: 5 }]);
      const { rows } = await db.query(`SELECT status, attempt FROM tasks WHERE task_id = ANY($1) ORDER BY task_id`, [taskIds]);
      expect(rows).toEqual(Array(5).fill({ status: 'queued', attempt: 0 }));
      await db.query(`UPDATE jobs SET status = 'cancelled' WHERE job_id = $1`, [jobId]);
    } finally {
      await lane.close();
    }
  }, 60_000);
});
