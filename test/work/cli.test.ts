import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobType } from '../../src/core/job-types/job-type.js';
import { jobTypeNames, registerJobTypes } from '../../src/core/job-types/registry.js';
import { runWork } from '../../src/core/work/runtime.js';
import { tasksClaim, tasksClaimNext, tasksComplete, tasksCompleteMany } from '../../src/store/completion.js';
import { createConsumer } from '../../src/transports/index.js';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { useWorkHarness } from './support/harness.js';
import { jobState, stageTasks } from './support/inspect.js';
import { abortedTasks, attemptStarts, blockingTakeOver, flakyJobType } from './support/job-type.js';
import { submit } from './support/runtimes.js';

const harness = useWorkHarness('local');
// This file's flaky_test handler blocks until its signal aborts.
registerJobTypes([
  { jobType: flakyJobType({ block: true }), origin: 'test/work/cli.test.ts' },
  { jobType: blockingTakeOver as unknown as JobType, origin: 'test/work/cli.test.ts' },
]);
const BLOCKING_MODULE = path.resolve(import.meta.dirname, 'support/blocking-job-type.mjs');

describe('geo work (local)', () => {
  it('--max-tasks 10 claims and completes exactly 10 tasks and leaves the rest queued', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const jobId = await submit(db, lane, 'hello_world', { n: 50, name: 'max' });
      const run = await runGeo(['work', '--max-tasks', '10', '--json'], lane.env());
      expect(run.code, run.stderr).toBe(0);
      expect(parseJsonOutput(run)).toMatchObject({ tasks: 10, completed: 10, stoppedBy: 'max-tasks' });
      const tasks = await stageTasks(db, jobId, 1);
      expect(tasks.filter((t) => t.status === 'completed')).toHaveLength(10);
      expect(tasks.filter((t) => t.status === 'queued')).toHaveLength(40);
      // Clean up: the rest of the job, so later tests start from an empty queue.
      expect((await runGeo(['work', '--until-idle', '--idle', '1s'], lane.env())).code).toBe(0);
      expect((await jobState(db, jobId)).status).toBe('completed');
    } finally {
      await lane.close();
    }
  });

  it('--advance-only queues the stage after one that other workers finished, and runs no task', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const jobId = await submit(db, lane, 'hello_world', { n: 10, name: 'advance' });
      // A worker that is not geo: claims and completes stage 1 through the completion API only.
      const claimed = await tasksClaimNext({ db, worker: 'elsewhere', maxTasks: 100, leaseSeconds: 30, jobTypes: ['hello_world'] });
      expect(claimed).toHaveLength(10);
      await tasksCompleteMany({
        db,
        completions: claimed.map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({ message: `m${t.parameters.i}` }) })),
      });
      const run = await runGeo(['work', '--advance-only', '--until-idle', '--idle', '1s', '--json'], lane.env());
      expect(run.code, run.stderr).toBe(0);
      const doc = parseJsonOutput<{ tasks: number; advancedStages: Array<{ stage: number; action: string; queuedTasks: number }> }>(run);
      expect(doc.tasks).toBe(0);
      expect(doc.advancedStages).toEqual([expect.objectContaining({ stage: 1, action: 'queued-next-stage', queuedTasks: 10 })]);
      const replies = await stageTasks(db, jobId, 2);
      expect(replies.map((t) => t.status)).toEqual(Array(10).fill('queued'));
      expect(replies[3]!.parameters).toEqual({ i: 3, greeting: 'm3' });
      expect((await runGeo(['work', '--until-idle', '--idle', '1s'], lane.env())).code).toBe(0);
    } finally {
      await lane.close();
    }
  });

  it('a stage finished by another worker is advanced on its notification, without waiting for the backstop timer', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    const stop = new AbortController();
    try {
      const jobId = await submit(db, lane, 'hello_world', { n: 5, name: 'notify' });
      const running = runWork({
        db,
        transportFor: () => lane.producer(),
        options: {
          worker: 'notified',
          transport: lane.transport,
          concurrency: 1,
          maxPrefetch: 0,
          leaseSeconds: 30,
          graceMs: 1_000,
          untilIdle: false,
          idleMs: 1_000,
          advanceOnly: true,
          // The timer cannot be what advances the stage within this test.
          backstopMs: 3_600_000,
          advance: { batchSize: 100, concurrency: 1, leaseSeconds: 30 },
          signal: stop.signal,
        },
      });
      // Listening (the start-up advance found nothing) before the stage finishes elsewhere.
      await waitFor('the worker to listen', async () => {
        const { rows } = await db.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'LISTEN geo_stage_completed%' AND datname = current_database()`);
        return rows.length > 0 ? true : undefined;
      });
      const claimed = await tasksClaimNext({ db, worker: 'elsewhere', maxTasks: 10, leaseSeconds: 30, jobTypes: ['hello_world'] });
      await tasksCompleteMany({ db, completions: claimed.map((t) => ({ taskId: t.taskId, claim: t.claim, resultJson: JSON.stringify({ message: 'hi' }) })) });
      await waitFor('stage 2 to be queued', async () => ((await stageTasks(db, jobId, 2)).length === 5 ? true : undefined), { timeoutMs: 10_000 });
      stop.abort();
      const summary = await running;
      expect(summary.advanced).toEqual([expect.objectContaining({ stage: 1, action: 'queued-next-stage' })]);
      expect((await runGeo(['work', '--until-idle', '--idle', '1s'], lane.env())).code).toBe(0);
    } finally {
      stop.abort();
      await lane.close();
    }
  });

  it('SIGTERM stops an idle worker with its summary, ending as killed by the signal (status 143)', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const { child, done } = startGeo(['work', '--json'], lane.env());
      // Ready once its LISTEN connection is open.
      await waitFor('the worker to listen', async () => {
        const { rows } = await db.query(`SELECT 1 FROM pg_stat_activity WHERE query LIKE 'LISTEN geo_stage_completed%' AND datname = current_database()`);
        return rows.length > 0 ? true : undefined;
      });
      child.kill('SIGTERM');
      const run = await done;
      expect({ code: run.code, signal: run.signal }, run.stderr).toEqual({ code: null, signal: 'SIGTERM' });
      expect(parseJsonOutput(run)).toMatchObject({ tasks: 0, stoppedBy: 'signal' });
    } finally {
      await lane.close();
    }
  });

  it('SIGTERM during a running task: geo work gives it its grace period, gives it back, prints its summary and ends with status 143', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const jobId = await submit(db, lane, 'blocking_test', { tag: 'sigterm' });
      const { child, done } = startGeo(['--job-types', BLOCKING_MODULE, 'work', '--grace', '1s', '--json'], lane.env());
      const [task] = await waitFor('the task to be running', async () => {
        const tasks = await stageTasks(db, jobId, 1);
        return tasks[0]?.status === 'processing' ? tasks : undefined;
      });
      child.kill('SIGTERM');
      const run = await done;
      expect({ code: run.code, signal: run.signal }, run.stderr).toEqual({ code: null, signal: 'SIGTERM' });
      expect(parseJsonOutput(run)).toMatchObject({ tasks: 1, completed: 0, released: 1, stoppedBy: 'signal' });
      const { rows } = await db.query(`SELECT status, worker, attempt FROM tasks WHERE task_id = $1`, [task!.taskId]);
      // Given back: the attempt does not count.
      expect(rows).toEqual([{ status: 'queued', worker: null, attempt: 0 }]);
      const cleanup = await tasksClaim({ db, taskId: task!.taskId, worker: 'cleanup', leaseSeconds: 30 });
      expect(cleanup).toMatchObject({ outcome: 'claimed' });
      expect(await tasksComplete({ db, taskId: task!.taskId, claim: cleanup.claim!, resultJson: null })).toMatchObject({ outcome: 'completed' });
    } finally {
      await lane.close();
    }
  });

  it('a stop request lets a running task use its grace period, then gives it back: queued again, the attempt not counted, its handler aborted', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const jobId = await submit(db, lane, 'flaky_test', { n: 1, tag: 'grace' });
      const stop = new AbortController();
      const consumer = await createConsumer('local', lane.config(), { worker: 'grace-worker', leaseSeconds: 30, jobTypes: jobTypeNames(), db });
      const running = runWork({
        db,
        consumer,
        transportFor: () => lane.producer(),
        options: {
          worker: 'grace-worker',
          transport: consumer.name,
          concurrency: 1,
          maxPrefetch: 0,
          leaseSeconds: 30,
          graceMs: 300,
          untilIdle: false,
          idleMs: 1_000,
          advanceOnly: false,
          advance: { batchSize: 100, concurrency: 1, leaseSeconds: 30 },
          signal: stop.signal,
        },
      });
      const [task] = await waitFor('the task to be running', async () => {
        const tasks = await stageTasks(db, jobId, 1);
        return tasks[0]?.status === 'processing' && attemptStarts.has(tasks[0].taskId) ? tasks : undefined;
      });
      stop.abort();
      const summary = await running.finally(() => consumer.close());
      expect(summary).toMatchObject({ tasks: 1, completed: 0, released: 1, stoppedBy: 'signal' });
      const { rows } = await db.query(`SELECT status, worker, attempt FROM tasks WHERE task_id = $1`, [task!.taskId]);
      expect(rows).toEqual([{ status: 'queued', worker: null, attempt: 0 }]);
      expect(abortedTasks.has(task!.taskId)).toBe(true);
      // Leaves nothing queued for a later test: the task is finished through the completion API.
      const cleanup = await tasksClaim({ db, taskId: task!.taskId, worker: 'cleanup', leaseSeconds: 30 });
      expect(cleanup).toMatchObject({ outcome: 'claimed', attempt: 1 });
      expect(await tasksComplete({ db, taskId: task!.taskId, claim: cleanup.claim!, resultJson: null })).toMatchObject({
        outcome: 'completed',
        stageCompleted: true,
      });
    } finally {
      await lane.close();
    }
  });
});
