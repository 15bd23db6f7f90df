// Issue 18's "no handler starts after the cancel committed", for what geo work held claimed when the cancel
// committed: its prefetch (up to --prefetch tasks beyond the running handlers) and a claim statement in
// flight across the commit. The worker drops them when the database's geo_job_changed arrives.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait.js';
import { type Lane, useWorkHarness } from '../work/support/harness.js';
import { runWorkers, submit } from '../work/support/runtimes.js';
import { commitTimed, stageFinished } from './support/inspect.js';
import { handlerStarts, registerControlJobType } from './support/job-type.js';

const TASKS = 5_000;
/** Handlers 4 workers (concurrency 4) may have been starting as the cancel committed: a receive's worth each, twice. */
const IN_THE_ACT = 4 * 4 * 2;

describe('cancel beside a prefetching geo work (local queue)', () => {
  const harness = useWorkHarness('local');
  registerControlJobType();
  const lanes: Lane[] = [];
  afterEach(async () => {
    await Promise.all(lanes.splice(0).map((l) => l.close()));
  });

  it('a cancel stops what a prefetching worker holds: only handlers in the act of starting start after its commit', async () => {
    const db = harness.db.pool;
    const l = await harness.lane();
    lanes.push(l);
    const jobId = await submit(db, l, 'control_test', { n: TASKS, delayMs: 1, tag: 'prefetched-cancel' });
    const workers = runWorkers(db, l, 4, { leaseSeconds: 30, idleMs: 2_000 });
    try {
      await waitFor('a quarter of the tasks to finish', async () => ((await stageFinished(db, jobId, 1)) >= TASKS / 4 ? true : undefined), {
        timeoutMs: 180_000,
      });
      const cancel = await commitTimed<string>(db, `SELECT geo_cancel_job($1, NULL, 'test: cancelled mid-run') AS value`, [jobId]);
      expect(cancel.value).toBe('cancelled');
      await workers;
      const late = [...handlerStarts.entries()]
        .filter(([taskId]) => taskId.startsWith(jobId.slice(0, 16)))
        .flatMap(([taskId, times]) => times.filter((t) => t > cancel.after).map((t) => ({ taskId, afterCommitMs: Math.round(t - cancel.after) })));
      // Before the worker gave its prefetch back on the notification, about a thousand started after the commit.
      expect(
        late.length,
        `${late.length} handlers started after the cancel committed, the last ${Math.max(0, ...late.map((x) => x.afterCommitMs))} ms after`,
      ).toBeLessThanOrEqual(IN_THE_ACT);
    } finally {
      await workers.catch(() => undefined);
    }
  }, 600_000);
});
