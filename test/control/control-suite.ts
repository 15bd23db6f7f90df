// Operating a run (issue 18) on every transport (the local queue, the Service Bus test peer,
// Azurite): cancel during a run, pause then resume beside another job, retry-failed after the
// job type's module is swapped for a fixed one, and prune with archives while jobs run.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TransportName } from '../../src/config/index.js';
import { cancelJob } from '../../src/core/control.js';
import type { WorkEvents } from '../../src/core/events.js';
import { loadJob } from '../../src/core/jobs.js';
import { PRUNABLE_STATUSES, pruneJobs } from '../../src/core/prune.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { type Lane, useWorkHarness } from '../work/support/harness.js';
import { runWorkers, submit, total } from '../work/support/runtimes.js';
import { claimsAfter, commitTimed, jobRow, leftovers, stageFinished, taskCounts } from './support/inspect.js';

import { handlerStarts, registerControlJobType, wallClockMs } from './support/job-type.js';

const BUGGY = path.resolve(import.meta.dirname, 'support/swap-buggy.mjs');
const FIXED = path.resolve(import.meta.dirname, 'support/swap-fixed.mjs');

export interface ControlSizes {
  /** Tasks of the job cancelled mid-run (the 100,000 by hand: GEO_CONTROL_CANCEL_TASKS). */
  cancelTasks: number;
  /** Tasks of the job paused mid-run. */
  pauseTasks: number;
  /** Tasks of each of the 20 jobs pruned. */
  prunedJobTasks: number;
}

/** What `geo prune --json` prints. */
interface PruneReport {
  jobs: Array<{ jobId: string; outcome: string; tasks: number; archive: { file: string; tasks: number } }>;
  pruned: number;
  tasksDeleted: number;
  tableBytesBefore: { tasks: number; batches: number };
  tableBytesAfter: { tasks: number; batches: number };
}

export function controlBehaviour(transport: TransportName, sizes: ControlSizes): void {
  const harness = useWorkHarness(transport);
  registerControlJobType();
  const lanes: Lane[] = [];
  const lane = async () => {
    const l = await harness.lane();
    lanes.push(l);
    return l;
  };
  let scratch: string;
  beforeAll(async () => {
    scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-control-'));
  });
  afterAll(async () => {
    await fs.rm(scratch, { recursive: true, force: true });
  });
  afterEach(async () => {
    await Promise.all(lanes.splice(0).map((l) => l.close()));
  });
  const cancelTasks = Number(process.env.GEO_CONTROL_CANCEL_TASKS ?? sizes.cancelTasks);

  describe(`run control over ${transport}`, () => {
    it(`cancel during a ${cancelTasks.toLocaleString('en-US')}-task run with 4 workers: no task claimed (on a broker no handler started) after the cancel committed, the job ends cancelled, nothing left claimed or pending`, async () => {
      const db = harness.db.pool;
      const l = await lane();
      const tag = `${transport}-cancel`;
      const jobId = await submit(db, l, 'control_test', { n: cancelTasks, delayMs: 1, tag });
      /** When each worker heard that this job changed (the cancel is its only change while they run). */
      const heard: number[] = [];
      const events: WorkEvents = { jobChangeHeard: (changed) => changed === jobId && void heard.push(wallClockMs()) };
      const workers = runWorkers(db, l, 4, { leaseSeconds: 30, idleMs: 2_000, events });
      try {
        await waitFor('a quarter of the tasks to finish', async () => ((await stageFinished(db, jobId, 1)) >= cancelTasks / 4 ? true : undefined), {
          timeoutMs: 180_000,
        });
        // The deciding statement, timed by the database; then the rest of what geo cancel does.
        const cancel = await commitTimed<string>(db, `SELECT geo_cancel_job($1, NULL, 'test: cancelled mid-run') AS value`, [jobId]);
        expect(cancel.value).toBe('cancelled');
        const bookkeeping = await cancelJob({ db, transportFor: () => l.producer(), job: await loadJob(db, jobId) });
        expect(bookkeeping.outcome).toBe('already-cancelled');
        const summaries = await workers;

        const starts = [...handlerStarts.entries()].filter(([taskId]) => taskId.startsWith(jobId.slice(0, 16)));
        // No task of the job was claimed after the cancel committed: the database's guarantee, on every
        // transport. What a worker had claimed and not started may still start until the notification
        // reaches it (how long that takes depends on the machine's load), and none once it has.
        expect(await claimsAfter(db, jobId, cancel.after)).toEqual([]);
        expect(heard).toHaveLength(4);
        const times = starts.flatMap(([, t]) => t);
        const why = `${times.filter((t) => t > cancel.after).length} handlers started after the cancel committed; every worker had heard of it within ${Math.round(Math.max(...heard) - cancel.before)} ms`;
        expect(times.filter((t) => t > Math.max(...heard)).length, why).toBe(0);
        // The run was cancelled in its middle: work ran before, and work was left that never ran.
        const ran = starts.length;
        expect(ran).toBeGreaterThanOrEqual(cancelTasks / 4);
        expect(ran).toBeLessThan(cancelTasks);
        // A broker delivered messages of the cancelled job, acknowledged unrun; the local queue's claim skips them.
        if (transport !== 'local') expect(total(summaries, 'cancelled')).toBeGreaterThan(0);

        expect(await jobRow(db, jobId)).toMatchObject({ status: 'cancelled' });
        expect(await leftovers(db, jobId)).toEqual({ processing: 0, unstarted: 0, pendingBatches: 0, owed: 0 });
        const counts = await taskCounts(db, jobId);
        expect((counts.completed ?? 0) + (counts.cancelled ?? 0)).toBe(cancelTasks);
        expect(counts.completed).toBe(ran);
        // Every message of the job was received and acknowledged unrun: nothing waits on the broker. (Not
        // checked on Azurite: under load a delete that times out brings its message back after the lease, as
        // work-suite.ts notes, to be acknowledged unrun by a later worker.)
        if (l.queuedMessages) {
          await waitFor('the queue to be empty', async () => ((await l.queuedMessages!()) === 0 ? true : undefined), { timeoutMs: 60_000 });
        }
        // Cancelling again is a no-op.
        expect((await cancelJob({ db, transportFor: () => l.producer(), job: await loadJob(db, jobId) })).outcome).toBe('already-cancelled');
      } finally {
        await workers.catch(() => undefined);
      }
    }, 600_000);

    it('pause then resume: no task of the paused job is claimed while paused, another job completes meanwhile, the paused one completes after resume, every task exactly once', async () => {
      const db = harness.db.pool;
      const l = await lane();
      const stop = new AbortController();
      const paused = await submit(db, l, 'control_test', { n: sizes.pauseTasks, delayMs: 2, tag: `${transport}-paused` });
      const workers = runWorkers(db, l, 4, { leaseSeconds: 30, untilIdle: false, signal: stop.signal });
      let other = '';
      try {
        await waitFor('a fifth of the tasks to finish', async () => ((await stageFinished(db, paused, 1)) >= sizes.pauseTasks / 5 ? true : undefined), {
          timeoutMs: 180_000,
        });
        const pause = await commitTimed<string>(db, `SELECT geo_pause_job($1) AS value`, [paused]);
        expect(pause.value).toBe('paused');

        other = await submit(db, l, 'control_test', { n: 50, tag: `${transport}-meanwhile` });
        await waitFor('the other job to complete', async () => ((await jobRow(db, other))?.status === 'completed' ? true : undefined), { timeoutMs: 180_000 });
        const { rows: clock } = await db.query<{ t: string }>(`SELECT extract(epoch FROM clock_timestamp()) * 1000 AS t`);
        const resumedAt = Number(clock[0]!.t);
        // What was claimed before the pause finished; nothing was claimed after it, and the job waits.
        expect(await claimsAfter(db, paused, pause.after)).toEqual([]);
        expect(await jobRow(db, paused)).toMatchObject({ status: 'processing', pausedAt: expect.any(Date) });
        const { rows: stages } = await db.query(`SELECT stage FROM stages WHERE job_id = $1 ORDER BY stage`, [paused]);
        expect(stages).toEqual([{ stage: 1 }]);

        expect((await commitTimed<string>(db, `SELECT geo_resume_job($1) AS value`, [paused])).value).toBe('resumed');
        await waitFor('the paused job to complete after its resume', async () => ((await jobRow(db, paused))?.status === 'completed' ? true : undefined), {
          timeoutMs: 300_000,
        });
        expect((await claimsAfter(db, paused, resumedAt)).length).toBeGreaterThan(0);
      } finally {
        stop.abort();
        await workers;
      }
      for (const [jobId, tasks] of [
        [paused, sizes.pauseTasks + 1],
        [other, 51],
      ] as const) {
        expect(await taskCounts(db, jobId)).toEqual({ completed: tasks });
        // Exactly once: one handler start and one attempt per task (a paused claim spends none).
        const starts = [...handlerStarts.entries()].filter(([taskId]) => taskId.startsWith(jobId.slice(0, 16)));
        expect(starts).toHaveLength(tasks);
        expect(starts.filter(([, times]) => times.length !== 1)).toEqual([]);
        const { rows } = await db.query(`SELECT t.attempt, count(*)::int AS n FROM tasks t WHERE t.job_id = $1 GROUP BY 1`, [jobId]);
        expect(rows).toEqual([{ attempt: 1, n: tasks }]);
      }
    }, 600_000);

    it('retry-failed after the job type module is swapped for a fixed one: the job ends completed, and results show both runs', async () => {
      const db = harness.db.pool;
      const l = await lane();
      const n = 12;
      const env = l.env();
      const submitted = await runGeo(['--job-types', BUGGY, 'submit', 'swap_test', '--param', `n=${n}`, '--param', `tag=${transport}`, '--json'], env);
      expect(submitted.code, submitted.stderr).toBe(0);
      const { jobId } = parseJsonOutput<{ jobId: string }>(submitted);
      const work = ['work', '--until-idle', '--idle', '3s', '--lease', '5s', '--json'];
      const first = await runGeo(['--job-types', BUGGY, ...work], env, { timeoutMs: 180_000 });
      expect(parseJsonOutput<{ advancedStages: Array<{ action: string }> }>(first).advancedStages.map((a) => a.action)).toEqual(['job-failed']);
      expect(await jobRow(db, jobId)).toMatchObject({ status: 'failed' });
      const broken = Array.from({ length: n }, (_, i) => i).filter((i) => i % 3 === 0);

      const retried = await runGeo(['retry-failed', jobId, '--json'], env);
      expect(retried.code, retried.stderr).toBe(0);
      expect(parseJsonOutput(retried)).toEqual({ jobId, outcome: 'reopened', tasks: broken.length, stages: 1 });
      const second = await runGeo(['--job-types', FIXED, ...work], env, { timeoutMs: 180_000 });
      expect(second.code, second.stderr).toBe(0);
      const advanced = parseJsonOutput<{ advancedStages: Array<{ stage: number; action: string }> }>(second).advancedStages;
      expect(advanced.map((a) => a.action)).toEqual(['queued-next-stage', 'job-completed']);
      expect(await jobRow(db, jobId)).toMatchObject({ status: 'completed' });

      const status = parseJsonOutput<{ status: string; stages: Array<{ retried: number; completed: number; failed: number }> }>(
        await runGeo(['status', jobId, '--json'], env),
      );
      expect(status.status).toBe('completed');
      expect(status.stages[0]).toMatchObject({ completed: n, failed: 0, retried: broken.length });
      const results = await runGeo(['results', jobId, '--stage', '1'], env);
      const lines = results.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { key: string; status: string; result: { version: string }; history?: Array<{ attempts: number; error: string }> });
      expect(lines).toHaveLength(n);
      for (const [i, line] of lines.entries()) {
        expect(line.status).toBe('completed');
        if (!broken.includes(i)) {
          expect(line).toMatchObject({ result: { version: 'buggy' } });
          expect(line.history).toBeUndefined();
          continue;
        }
        // Both runs: the failed one (its two attempts and last error) in the history, the fixed one as the result.
        expect(line.result).toEqual({ i, version: 'fixed' });
        expect(line.history).toEqual([
          { attempts: 2, error: `bug: task ${i} cannot be done (attempt 2)`, failedAt: expect.any(String), retriedAt: expect.any(String) },
        ]);
      }
      const { rows } = await db.query(`SELECT attempt, count(*)::int AS n FROM tasks WHERE job_id = $1 AND stage = 1 GROUP BY 1 ORDER BY 1`, [jobId]);
      expect(rows).toEqual([{ attempt: 1, n }]);
    }, 600_000);

    it('prune with --archive-dir deletes 20 finished jobs while 2 jobs run: every task archived, the running jobs untouched, table sizes reported', async () => {
      const db = harness.db.pool;
      const l = await lane();
      const per = sizes.prunedJobTasks;
      // The jobs of the tests before are not this test's: gone first.
      await pruneJobs({ db, options: { statuses: PRUNABLE_STATUSES, cutoff: new Date(), dryRun: false } });
      const finished: string[] = [];
      for (let j = 0; j < 20; j++) {
        finished.push(await submit(db, l, 'control_test', { n: per, fail: j % 7 === 3, tag: `${transport}-pruned-${j}` }));
      }
      // Three are cancelled before any of their tasks runs; the others complete, or fail (every seventh).
      for (const jobId of finished.slice(17)) await cancelJob({ db, transportFor: () => l.producer(), job: await loadJob(db, jobId) });
      await runWorkers(db, l, 2, { leaseSeconds: 30, idleMs: 2_000 });
      const statuses = await Promise.all(finished.map(async (jobId) => (await jobRow(db, jobId))!.status));
      expect(statuses.filter((s) => s === 'completed').length).toBe(15);
      expect(statuses.filter((s) => s === 'failed').length).toBe(2);
      expect(statuses.filter((s) => s === 'cancelled').length).toBe(3);
      const expected = new Map<string, number>();
      for (const jobId of finished)
        expected.set(
          jobId,
          Object.values(await taskCounts(db, jobId)).reduce((a, b) => a + b, 0),
        );

      // Jobs that finish after this are never pruned, however long the prune runs.
      const { rows: now } = await db.query<{ now: Date }>(`SELECT now()`);
      const cutoff = now[0]!.now.toISOString();
      const running = [
        await submit(db, l, 'control_test', { n: 400, delayMs: 5, tag: `${transport}-running-a` }),
        await submit(db, l, 'control_test', { n: 400, delayMs: 5, tag: `${transport}-running-b` }),
      ];
      const stop = new AbortController();
      const workers = runWorkers(db, l, 2, { leaseSeconds: 30, untilIdle: false, signal: stop.signal });
      const archives = path.join(scratch, `${transport}-archives`);
      let pruned: PruneReport;
      let pruneStarted = 0;
      try {
        await waitFor('the running jobs to have started', async () => ((await stageFinished(db, running[0]!, 1)) > 0 ? true : undefined), {
          timeoutMs: 60_000,
        });
        pruneStarted = Date.now();
        const run = await runGeo(['prune', '--finished-before', cutoff, '--archive-dir', archives, '--chunk-batches', '1', '--json'], l.env(), {
          timeoutMs: 180_000,
        });
        expect(run.code, run.stderr).toBe(0);
        pruned = parseJsonOutput<PruneReport>(run);
        await waitFor(
          'the running jobs to complete',
          async () => {
            const rows = await Promise.all(running.map((jobId) => jobRow(db, jobId)));
            return rows.every((r) => r?.status === 'completed') ? true : undefined;
          },
          { timeoutMs: 300_000 },
        );
      } finally {
        stop.abort();
        await workers;
      }
      // The running jobs ran during the prune: they ended after it started.
      for (const jobId of running) expect((await jobRow(db, jobId))!.completedAt!.getTime()).toBeGreaterThan(pruneStarted);
      expect(pruned.pruned).toBe(20);
      expect(pruned.jobs.map((j) => j.jobId).sort()).toEqual([...finished].sort());
      expect(pruned.tasksDeleted).toBe([...expected.values()].reduce((a, b) => a + b, 0));
      expect(pruned.tableBytesBefore.tasks).toBeGreaterThan(0);
      expect(pruned.tableBytesAfter.tasks).toBeGreaterThan(0);
      for (const job of pruned.jobs) {
        expect(job).toMatchObject({ outcome: 'pruned', tasks: expected.get(job.jobId) });
        const lines = gunzipSync(await fs.readFile(job.archive.file))
          .toString('utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Record<string, unknown>);
        const tasks = lines.filter((line) => line.record === 'task');
        expect(lines[0]).toMatchObject({ record: 'job', jobId: job.jobId });
        expect(new Set(tasks.map((t) => t.taskId)).size).toBe(expected.get(job.jobId));
        expect(lines[lines.length - 1]).toEqual({ record: 'end', jobId: job.jobId, stages: expect.any(Number), tasks: expected.get(job.jobId) });
        for (const task of tasks) expect(task).toEqual(expect.objectContaining({ parameters: expect.any(Object), attempt: expect.any(Number), history: null }));
      }
      // Nothing of the pruned jobs is left anywhere.
      const { rows: left } = await db.query(
        `SELECT (SELECT count(*) FROM jobs WHERE job_id = ANY($1))::int AS jobs, (SELECT count(*) FROM stages WHERE job_id = ANY($1))::int AS stages,
                (SELECT count(*) FROM batches WHERE job_id = ANY($1))::int AS batches, (SELECT count(*) FROM tasks WHERE job_id = ANY($1))::int AS tasks,
                (SELECT count(*) FROM redeliveries WHERE job_id = ANY($1))::int AS redeliveries,
                (SELECT count(*) FROM stage_completions WHERE job_id = ANY($1))::int AS outbox`,
        [finished],
      );
      expect(left[0]).toEqual({ jobs: 0, stages: 0, batches: 0, tasks: 0, redeliveries: 0, outbox: 0 });
      // The running jobs are whole: every task once, counters exact.
      for (const jobId of running) {
        expect(await taskCounts(db, jobId)).toEqual({ completed: 401 });
        const { rows } = await db.query(`SELECT attempt, count(*)::int AS n FROM tasks WHERE job_id = $1 GROUP BY 1`, [jobId]);
        expect(rows).toEqual([{ attempt: 1, n: 401 }]);
      }
    }, 600_000);
  });
}
