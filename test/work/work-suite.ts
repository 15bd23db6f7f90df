// One behaviour suite for `geo work`, run against every transport (the
// local queue, the Service Bus test peer, Azurite): each test file supplies
// the transport; the harness gives each test a fresh queue.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TransportName } from '../../src/config/index.js';
import { tasksClaim, tasksComplete } from '../../src/store/completion.js';
import { parseJsonOutput, startGeo } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { type Lane, LOCK_SECONDS, useWorkHarness } from './support/harness.js';
import { jobState, stageRow, stageTasks } from './support/inspect.js';
import { attemptStarts, registerFlakyJobType, spinHooks, TEST_RETRY } from './support/job-type.js';
import { runWorkers, submit, total } from './support/runtimes.js';
import { type TakenMessage, takeMessageOnceVisible } from './support/second-receiver.js';

const BLOCKING_MODULE = path.resolve(import.meta.dirname, 'support/blocking-job-type.mjs');

interface WorkJson {
  tasks: number;
  completed: number;
  duplicates: number;
  advancedStages: Array<{ stage: number; action: string }>;
}

export interface SuiteOptions {
  /** Tasks per stage in the eight-worker test (5,000 unless the broker cannot take it in a test's time). */
  eightWorkerTasks?: number;
}

export function workBehaviour(transport: TransportName, suite: SuiteOptions = {}): void {
  const stageTasksOfEight = suite.eightWorkerTasks ?? 5000;
  const harness = useWorkHarness(transport);
  registerFlakyJobType();
  const lanes: Lane[] = [];
  const lane = async () => {
    const l = await harness.lane();
    lanes.push(l);
    return l;
  };
  afterEach(async () => {
    await Promise.all(lanes.splice(0).map((l) => l.close()));
  });

  describe(`geo work over ${transport}`, () => {
    it('two geo work --until-idle processes finish hello_world n=1,000: 2,000 completed tasks, replies built from the greetings, job completed', async () => {
      const db = harness.db.pool;
      const l = await lane();
      const jobId = await submit(db, l, 'hello_world', { n: 1000, name: 'suite' });
      // A lease no stall of a loaded machine outlasts: lapsed claims (each a failed attempt) have tests of their own.
      const args = ['work', '--until-idle', '--idle', '3s', '--concurrency', '8', '--lease', '20s', '--json'];
      const runs = await Promise.all([startGeo(args, l.env()).done, startGeo(args, l.env()).done]);
      for (const run of runs) expect(run.code, run.stderr).toBe(0);
      const docs = runs.map((r) => parseJsonOutput<WorkJson>(r));
      expect(
        docs.reduce((n, d) => n + d.completed, 0),
        JSON.stringify(docs),
      ).toBe(2000);

      const greetings = await stageTasks(db, jobId, 1);
      const replies = await stageTasks(db, jobId, 2);
      expect(greetings.filter((t) => t.status === 'completed')).toHaveLength(1000);
      expect(replies.filter((t) => t.status === 'completed')).toHaveLength(1000);
      for (const reply of replies) {
        const i = reply.taskIndex;
        expect(greetings[i]!.result).toEqual({ message: `Hello suite from task ${i}!` });
        expect(reply.result).toEqual({ reply: `Task ${i} heard: Hello suite from task ${i}!` });
      }
      expect((await jobState(db, jobId)).status).toBe('completed');
      const advanced = docs.flatMap((d) => d.advancedStages);
      expect(advanced.filter((a) => a.action === 'queued-next-stage')).toEqual([expect.objectContaining({ stage: 1 })]);
      expect(advanced.filter((a) => a.action === 'job-completed')).toEqual([expect.objectContaining({ stage: 2 })]);
    }, 180_000);

    it(`eight in-process workers on a ${stageTasksOfEight.toLocaleString('en-US')}-task stage queue stage 2 exactly once and complete the job once`, async () => {
      const db = harness.db.pool;
      const l = await lane();
      const jobId = await submit(db, l, 'hello_world', { n: stageTasksOfEight, name: 'eight' });
      // A lease far longer than the test: every delivery of a task is then a message that was sent, not a lapsed lock.
      const notices: string[] = [];
      const summaries = await runWorkers(db, l, 8, { concurrency: 4, leaseSeconds: 60, onNotice: (n) => notices.push(n) });
      const advanced = summaries.flatMap((s) => s.advanced);
      const summaryText = JSON.stringify(summaries.map(({ advanced: _, ...counts }) => counts));
      expect(
        advanced.filter((a) => a.action === 'queued-next-stage').map((a) => a.stage),
        `${JSON.stringify(advanced)} ${summaryText}`,
      ).toEqual([1]);
      expect(advanced.filter((a) => a.action === 'job-completed').map((a) => a.stage)).toEqual([2]);
      expect(total(summaries, 'completed')).toBe(2 * stageTasksOfEight);
      // A second delivery of a task is claimed as `finished` somewhere. There are none beyond what
      // a re-sent batch or a settlement that did not reach the queue explains (Azurite under load
      // times out some sends and deletes; a deleted message that was not deleted comes back after its lease).
      const { rows: resent } = await db.query<{ n: number }>(`SELECT coalesce(sum((attempts - 1) * task_count), 0)::int AS n FROM batches WHERE job_id = $1`, [
        jobId,
      ]);
      const unsettled = notices.filter((n) => /^acknowledge of task \S+ failed/.test(n)).length + total(summaries, 'lockLost');
      expect(total(summaries, 'duplicates'), summaryText).toBeLessThanOrEqual(resent[0]!.n + unsettled);
      const replies = await stageTasks(db, jobId, 2);
      expect(replies).toHaveLength(stageTasksOfEight);
      expect(replies.every((t) => t.status === 'completed' && t.attempt === 1)).toBe(true);
      expect(await stageRow(db, jobId, 2)).toMatchObject({
        taskCount: stageTasksOfEight,
        completedCount: stageTasksOfEight,
        failedCount: 0,
        status: 'completed',
      });
      const { rows: outbox } = await db.query(`SELECT stage, attempts FROM stage_completions WHERE job_id = $1 ORDER BY stage`, [jobId]);
      expect(outbox).toEqual([
        { stage: 1, attempts: 1 },
        { stage: 2, attempts: 1 },
      ]);
      const { rows: batches } = await db.query<{ attempts: number; lastError: string | null }>(
        `SELECT attempts, last_error AS "lastError" FROM batches WHERE job_id = $1 AND stage = 2`,
        [jobId],
      );
      expect(batches).toHaveLength(stageTasksOfEight / 100);
      // Each stage-2 batch was sent by one advancer (written queued once, on the local queue): an attempt
      // beyond the first is that advancer's retry after a failed send (Azurite under load times some out).
      expect(batches.filter((b) => b.attempts !== 1 && b.lastError === null)).toEqual([]);
      const sent = await l.acceptedMessages(jobId, 2);
      expect(sent.size).toBe(stageTasksOfEight);
      expect([...sent.values()].every((n) => n === 1)).toBe(true);
      expect((await jobState(db, jobId)).status).toBe('completed');
    }, 240_000);

    it('a handler failing twice then succeeding completes on attempt 3, each retry waiting at least the doubling minimum of the policy', async () => {
      const db = harness.db.pool;
      const l = await lane();
      const jobId = await submit(db, l, 'flaky_test', { n: 3, failTimes: 2, tag: `${transport}-k2` });
      const [summary] = await runWorkers(db, l, 1);
      expect(summary).toMatchObject({ tasks: 9, retried: 6, completed: 3, failed: 0 });
      for (const task of await stageTasks(db, jobId, 1)) {
        expect(task).toMatchObject({ status: 'completed', attempt: 3, result: { i: task.taskIndex, attempt: 3 } });
        const starts = attemptStarts.get(task.taskId)!;
        expect(starts).toHaveLength(3);
        // Retry n waits at least half of base x 2^(n-1) (the other half is jitter).
        expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(TEST_RETRY.baseMs / 2);
        expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(TEST_RETRY.baseMs);
      }
      expect((await jobState(db, jobId)).status).toBe('completed');
    }, 60_000);

    it('a handler that always fails ends failed after its last retry, with its error in the database and nothing dead-lettered; the job fails', async () => {
      const db = harness.db.pool;
      const l = await lane();
      const jobId = await submit(db, l, 'flaky_test', { n: 1, failTimes: 99, tag: `${transport}-always` });
      const [summary] = await runWorkers(db, l, 1);
      expect(summary).toMatchObject({ tasks: TEST_RETRY.maxRetries + 1, retried: TEST_RETRY.maxRetries, failed: 1, deadLettered: 0 });
      const [task] = await stageTasks(db, jobId, 1);
      expect(task).toMatchObject({ status: 'failed', attempt: 4, error: 'attempt 4 of task 0 failed on purpose' });
      const job = await jobState(db, jobId);
      expect(job.status).toBe('failed');
      expect(job.errors).toMatchObject({ stage: 1, tasks: [{ taskId: task!.taskId, error: 'attempt 4 of task 0 failed on purpose' }] });
      // The database is the record of failures: every message was acknowledged.
      expect(await l.deadLettered()).toEqual([]);
    }, 60_000);

    it('a PermanentTaskError fails the task on its first attempt, without retries', async () => {
      const db = harness.db.pool;
      const l = await lane();
      const jobId = await submit(db, l, 'flaky_test', { n: 1, failTimes: 1, permanent: true, tag: `${transport}-permanent` });
      const [summary] = await runWorkers(db, l, 1);
      expect(summary).toMatchObject({ tasks: 1, retried: 0, failed: 1 });
      expect(await stageTasks(db, jobId, 1)).toEqual([expect.objectContaining({ status: 'failed', attempt: 1 })]);
      expect((await jobState(db, jobId)).status).toBe('failed');
      expect(await l.deadLettered()).toEqual([]);
    }, 60_000);

    it('a geo work process SIGKILLed mid-task: its session ends with it, so the task is delivered again at once and completed once', async () => {
      const db = harness.db.pool;
      const l = await lane();
      const jobId = await submit(db, l, 'blocking_test', { tag: `${transport}-killed` });
      // The real binary, with a job-type module whose handler blocks until aborted.
      const args = ['--job-types', BLOCKING_MODULE, 'work', '--concurrency', '1', '--lease', `${LOCK_SECONDS}s`];
      const { child, done } = startGeo(args, l.env());
      try {
        const held = await waitFor(
          'the geo work process to hold the task',
          async () => {
            if (child.exitCode !== null) throw new Error(`geo work exited ${child.exitCode}: ${(await done).stderr}`);
            const [task] = await stageTasks(db, jobId, 1);
            return task?.status === 'processing' ? task : undefined;
          },
          { timeoutMs: 60_000 },
        );
        expect(held.attempt).toBe(1);
      } finally {
        child.kill('SIGKILL');
      }
      expect((await done).signal).toBe('SIGKILL');
      // A lease far longer than the test: only the dead process's session can free its claim in time.
      await db.query(`UPDATE tasks SET lease_until = now() + interval '1 hour' WHERE job_id = $1`, [jobId]);
      const [summary] = await runWorkers(db, l, 1, { idleMs: LOCK_SECONDS * 3_000 });
      // The dead process's message may come back too (its lock lapsed): then it finds the task held or finished.
      expect(summary).toMatchObject({ tasks: 1, completed: 1 });
      expect(await stageTasks(db, jobId, 1)).toEqual([expect.objectContaining({ status: 'completed', attempt: 2, result: { attempt: 2 } })]);
      expect(await stageRow(db, jobId, 1)).toMatchObject({ completedCount: 1, failedCount: 0 });
      expect((await jobState(db, jobId)).status).toBe('completed');
    }, 120_000);

    it('a body that is not a task message never runs: a broker dead-letters it with its reason and the worker goes on with the job; the database refuses it as a task row', async () => {
      const db = harness.db.pool;
      const l = await lane();
      const body = '{"not": "a task message"';
      if (l.kind.tasksAreMessages) await expect(l.sendRaw(body)).rejects.toThrow();
      else await l.sendRaw(body);
      const jobId = await submit(db, l, 'hello_world', { n: 20, name: 'malformed' });
      const [summary] = await runWorkers(db, l, 1);
      const malformed = l.kind.tasksAreMessages ? 0 : 1;
      expect(summary).toMatchObject({ malformed, deadLettered: malformed, completed: 40 });
      const dead = await l.deadLettered();
      expect(dead).toEqual(malformed ? [{ taskId: undefined, reason: 'MalformedMessage', description: expect.stringMatching(/^not JSON/) }] : []);
      expect((await jobState(db, jobId)).status).toBe('completed');
    }, 60_000);

    it('a handler that holds the event loop past its lock is not fatal: the task completes once; a broker counts the lost lock and its message comes back', async () => {
      const db = harness.db.pool;
      const l = await lane();
      // Longer than the lock, with the event loop busy throughout: no renewal can run.
      const jobId = await submit(db, l, 'flaky_test', { n: 1, spinMs: LOCK_SECONDS * 2_000, tag: `${transport}-lock-lost` });
      // On Storage Queue a lapsed visibility timeout loses the lock only once another receive takes the
      // message: the handler's last act, the event loop still held, is to have another receiver take it.
      const order: string[] = [];
      let taken: TakenMessage | undefined;
      if (transport === 'storage-queue') {
        spinHooks.afterSpin = () => {
          taken = takeMessageOnceVisible(l, 1);
          order.push('taken by another receiver');
        };
      }
      const [summary] = await runWorkers(db, l, 1, {
        idleMs: LOCK_SECONDS * 2_500,
        onNotice: (message, detail) => {
          if (detail?.event === 'lock_lost') order.push('lock lost');
          // A settlement the broker did not answer (a timeout) cannot tell a lost lock: said, for a failure's message.
          else if (detail?.event === 'settle_failed') order.push(message);
        },
      }).finally(() => {
        spinHooks.afterSpin = undefined;
      });
      const [task] = await stageTasks(db, jobId, 1);
      if (l.kind.tasksAreMessages) {
        // The claim's lease is the only lock: lapsed, it still holds the task until a sweep takes it over,
        // and the completion is issued the moment the handler returns, before any timer can sweep.
        expect(summary).toMatchObject({ lockLost: 0, duplicates: 0 });
      } else {
        const seen = JSON.stringify({ summary, order, taken });
        expect(summary!.lockLost, seen).toBeGreaterThanOrEqual(1);
        // The message came back once the handler (which held the event loop) was done: acknowledged as finished.
        expect(summary!.duplicates, seen).toBeGreaterThanOrEqual(1);
        expect(order[0]).toBe(transport === 'storage-queue' ? 'taken by another receiver' : 'lock lost');
        expect(order).toContain('lock lost');
      }
      if (transport === 'storage-queue') {
        // A later receive of this task's message than the worker's, while the handler held it (under load
        // the worker's own receive may have lapsed and come back once before: then it is the third).
        expect(taken).toMatchObject({ body: { taskId: task!.taskId } });
        expect(taken!.dequeueCount).toBeGreaterThanOrEqual(2);
      }
      expect(summary!.completed).toBe(1);
      expect(task).toMatchObject({ status: 'completed' });
      expect(await stageRow(db, jobId, 1)).toMatchObject({ completedCount: 1, failedCount: 0 });
      expect((await jobState(db, jobId)).status).toBe('completed');
    }, 60_000);

    it('a task another live claim holds is not run here: a broker acknowledges its delivery as busy, the local queue does not hand it out; the holder completes it and the job goes on', async () => {
      const db = harness.db.pool;
      const l = await lane();
      const jobId = await submit(db, l, 'hello_world', { n: 1, name: 'busy' });
      const [task] = await stageTasks(db, jobId, 1);
      const held = await tasksClaim({ db, taskId: task!.taskId, worker: 'holder', leaseSeconds: 120 });
      expect(held).toMatchObject({ outcome: 'claimed' });
      const holder = held.claim!;
      let holderDone: Promise<unknown> | undefined;
      const finishHolder = () =>
        (holderDone ??= tasksComplete({ db, taskId: task!.taskId, claim: holder, resultJson: JSON.stringify({ message: 'from the holder' }) }));
      const [summary] = await runWorkers(
        db,
        l,
        1,
        {
          idleMs: LOCK_SECONDS * 2_500,
          // On a broker the holder finishes once the worker has acknowledged its delivery as busy.
          onProgress: (counts) => counts.busy > 0 && finishHolder(),
        },
        // The local queue skips a claimed row: the holder finishes once the worker's first receive came back without it.
        { onReceive: () => l.kind.tasksAreMessages && finishHolder() },
      );
      await holderDone;
      expect(summary!.busy).toBe(l.kind.tasksAreMessages ? 0 : 1);
      // Stage 2's one task ran here; stage 1's was the holder's, and no message of it is left.
      expect(summary).toMatchObject({ duplicates: 0, tasks: 1, completed: 1 });
      expect(await l.deadLettered()).toEqual([]);
      expect((await stageTasks(db, jobId, 2))[0]).toMatchObject({ status: 'completed', result: { reply: 'Task 0 heard: from the holder' } });
      expect((await jobState(db, jobId)).status).toBe('completed');
    }, 60_000);
  });
}
