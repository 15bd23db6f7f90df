// Issue 18's "no handler starts after the cancel committed", for what geo work held claimed when the cancel
// committed: its prefetch (up to --prefetch tasks beyond the running handlers) and a claim statement in
// flight across the commit. The worker drops them when the database's geo_job_changed arrives: until then
// it cannot know, so the test counts the handlers that started after every worker had heard (none may),
// and reports those between the commit and that moment, which only the notification's latency bounds.
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkEvents } from '../../src/core/events.js';
import { waitFor } from '../support/wait.js';
import { type Lane, useWorkHarness } from '../work/support/harness.js';
import { runWorkers, submit } from '../work/support/runtimes.js';
import { commitTimed, stageFinished } from './support/inspect.js';
import { handlerStarts, registerControlJobType, wallClockMs } from './support/job-type.js';

const TASKS = 5_000;
const WORKERS = 4;
/**
 * Long enough that the job is far from done when the cancel commits, short enough that each worker
 * holds a prefetch (about concurrency x 200 ms of work, core/work/prefetch.ts): 40 tasks.
 */
const HANDLER_MS = 20;

describe('cancel beside a prefetching geo work (local queue)', () => {
  const harness = useWorkHarness('local');
  registerControlJobType();
  const lanes: Lane[] = [];
  afterEach(async () => {
    await Promise.all(lanes.splice(0).map((l) => l.close()));
  });

  it('a cancel stops what a prefetching worker holds: once each worker has heard of it, no handler of the job starts there', async () => {
    const db = harness.db.pool;
    const l = await harness.lane();
    lanes.push(l);
    const jobId = await submit(db, l, 'control_test', { n: TASKS, delayMs: HANDLER_MS, tag: 'prefetched-cancel' });
    /** When each worker heard that this job changed (the cancel is its only change while they run). */
    const heard: number[] = [];
    let claimed = 0;
    const events: WorkEvents = {
      taskClaimed: () => claimed++,
      jobChangeHeard: (changed) => {
        if (changed === jobId) heard.push(wallClockMs());
      },
    };
    const workers = runWorkers(db, l, WORKERS, { leaseSeconds: 30, idleMs: 2_000, events });
    try {
      await waitFor('a quarter of the tasks to finish', async () => ((await stageFinished(db, jobId, 1)) >= TASKS / 4 ? true : undefined), {
        timeoutMs: 180_000,
      });
      const cancel = await commitTimed<string>(db, `SELECT geo_cancel_job($1, NULL, 'test: cancelled mid-run') AS value`, [jobId]);
      expect(cancel.value).toBe('cancelled');
      await workers;
      expect(heard).toHaveLength(WORKERS);
      const allHeard = Math.max(...heard);
      const starts = [...handlerStarts.entries()].filter(([taskId]) => taskId.startsWith(jobId.slice(0, 16))).flatMap(([, times]) => times);
      const afterCommit = starts.filter((t) => t > cancel.after);
      const afterHeard = starts.filter((t) => t > allHeard);
      const why = `${afterCommit.length} handlers started after the cancel committed, every worker had heard of it within ${Math.round(allHeard - cancel.before)} ms of the commit`;
      expect(afterHeard.length, why).toBe(0);
      // The case is hit: the workers held claimed tasks they had not started, and never started them.
      expect(claimed - starts.length, why).toBeGreaterThan(0);
      console.info(why);
    } finally {
      await workers.catch(() => undefined);
    }
  }, 600_000);
});
