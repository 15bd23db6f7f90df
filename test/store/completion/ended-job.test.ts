import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransportName } from '../../../src/config/index.js';
import { tasksClaimNext, tasksFail, tasksRelease } from '../../../src/store/completion.js';
import { jobsFail } from '../../../src/store/jobs.js';
import { tasksRequeueLapsed } from '../../../src/store/redeliveries.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { waitFor } from '../../support/wait.js';
import { claimTask, createStage, lapseLease, taskState } from './fixtures.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/**
 * Found by the worker chaos test (seed 23, local): a stage-2 builder threw
 * while tasks of its first batch ran; the job failed (jobsFail cancels only
 * tasks not yet claimed), then a running task's handler failed, retryably.
 * geo_fail_task put it back to `queued` in a failed job: geo_claim_next takes
 * only tasks of running jobs and the sweep only `processing` ones, so it
 * stayed `queued` for good (on a broker, a message was owed for it too).
 */
describe('a task whose job failed while it ran', () => {
  const reports = [
    ['a retryable failure', (taskId: string, claim: string) => tasksFail({ db: db.pool, taskId, claim, error: 'boom', retryable: true })],
    ['a give-back (a stopping worker)', (taskId: string, claim: string) => tasksRelease({ db: db.pool, held: [{ taskId, claim }] })],
  ] as const;
  const transports: TransportName[] = ['local', 'servicebus'];

  it.each(transports.flatMap((transport) => reports.map(([what, report]) => [what, transport, report] as const)))(
    '%s reported after the job failed leaves it cancelled (%s), not queued where no claim or sweep will ever take it',
    async (_what, transport, report) => {
      const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2, transport, maxRetries: 3 });
      const taskId = taskIds[0]!;
      const claim = await claimTask(db.pool, taskId);
      // As advancement does when a stage's builder throws.
      await jobsFail(db.pool, { jobId, stage: 1, stageError: 'task() threw', errors: { stage: 1, error: 'task() threw' } });
      expect((await taskState(db.pool, taskIds[1]!)).status).toBe('cancelled');

      await report(taskId, claim);

      // Nothing takes a queued task of a failed job: not the local queue, not the sweep.
      expect(await tasksClaimNext({ db: db.pool, worker: 'w2', maxTasks: 10, leaseSeconds: 30, jobTypes: ['hello_world'] })).toEqual([]);
      await tasksRequeueLapsed(db.pool, { limit: 100, jobId, excludeJobs: [] });
      expect((await taskState(db.pool, taskId)).status).toBe('cancelled');
      const { rows: owed } = await db.pool.query(`SELECT task_id FROM redeliveries WHERE task_id = $1`, [taskId]);
      expect(owed).toEqual([]);
    },
  );
});

/**
 * Found by the worker chaos test (seed 5, Storage Queue): a stage-2 task's
 * retryable failure was recorded 60 ms after its job began to fail, and the
 * task stayed `queued`. The report held the job row FOR SHARE when the job's
 * failure came: its UPDATE of the job waited for the report to commit, and a
 * cancel of the job's queued tasks in that same statement reads with the
 * snapshot taken before the wait, when the task was still `processing`.
 */
describe('a retryable failure committed while the job fails', () => {
  it('is cancelled by the failing job once the report commits, not left queued', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2, transport: 'storage-queue', maxRetries: 3 });
    const taskId = taskIds[0]!;
    const claim = await claimTask(db.pool, taskId);
    const reporter = await db.pool.connect();
    try {
      await reporter.query('BEGIN');
      const { rows } = await reporter.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect((await tasksFail({ db: reporter, taskId, claim, error: 'boom', retryable: true })).outcome).toBe('retry');

      const failing = jobsFail(db.pool, { jobId, stage: 1, stageError: 'task() threw', errors: { stage: 1, error: 'task() threw' } });
      // The job's failure waits on the report's lock on the job row.
      await waitFor('the job failure to wait on the report', async () => {
        const { rows: waiting } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(pid))`, [
          rows[0]!.pid,
        ]);
        return waiting.length > 0 ? true : undefined;
      });
      await reporter.query('COMMIT');
      expect(await failing).toBe(true);
    } finally {
      await reporter.query('ROLLBACK').catch(() => undefined);
      reporter.release();
    }

    expect((await taskState(db.pool, taskId)).status).toBe('cancelled');
    expect((await taskState(db.pool, taskIds[1]!)).status).toBe('cancelled');
    const { rows: owed } = await db.pool.query(`SELECT task_id FROM redeliveries WHERE job_id = $1`, [jobId]);
    expect(owed).toEqual([]);
  });
});

/**
 * The sweep's side of the same race: it puts a dead worker's task back
 * (`queued`, a message owed) after deciding, from its statement's snapshot,
 * that the job still runs. A job failing meanwhile cancels only the tasks its
 * own snapshot shows queued, so a sweep that commits after that left the task
 * queued for good. Here the sweep is held between its decision and its
 * commit by an uncommitted row owing the same task a message.
 */
describe('a lapsed lease put back by the sweep while the job fails', () => {
  it('is cancelled, not left queued with a message owed', async () => {
    const { jobId, taskIds } = await createStage(db.pool, { taskCount: 2, transport: 'servicebus', maxRetries: 3 });
    const taskId = taskIds[0]!;
    await claimTask(db.pool, taskId);
    await lapseLease(db.pool, taskId);
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`INSERT INTO redeliveries (task_id, job_id, deliver_at, reason) VALUES ($1, $2, now(), 'retry')`, [taskId, jobId]);
      const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const sweeping = tasksRequeueLapsed(db.pool, { limit: 100, jobId, excludeJobs: [] });
      await waitFor('the sweep to wait on the owed row', async () => {
        const { rows: waiting } = await db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(pid))`, [
          rows[0]!.pid,
        ]);
        return waiting.length > 0 ? true : undefined;
      });
      const failing = jobsFail(db.pool, { jobId, stage: 1, stageError: 'task() threw', errors: { stage: 1, error: 'task() threw' } });
      // The failure either waits for the sweep (which read the job as running) or finishes first; both must end the same.
      await Promise.race([
        failing,
        waitFor('the job failure to wait on the sweep', async () => {
          const { rows: waiting } = await db.pool.query(
            `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%UPDATE jobs SET status%'`,
          );
          return waiting.length > 0 ? true : undefined;
        }),
      ]);
      await holder.query('ROLLBACK');
      await sweeping;
      expect(await failing).toBe(true);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
    }

    expect((await taskState(db.pool, taskId)).status).toBe('cancelled');
    const { rows: owed } = await db.pool.query(`SELECT task_id FROM redeliveries WHERE job_id = $1`, [jobId]);
    expect(owed).toEqual([]);
  });
});
