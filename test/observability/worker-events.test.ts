import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { NoticeDetail, WorkEvents } from '../../src/core/events.js';
import type { JobType } from '../../src/core/job-types/job-type.js';
import { registerJobTypes } from '../../src/core/job-types/registry.js';
import { combineEvents } from '../../src/observability/combine.js';
import { createLogger } from '../../src/observability/logging.js';
import { workerMetrics } from '../../src/observability/metrics.js';
import { workLog } from '../../src/observability/work-log.js';
import { tasksRequeueLapsed } from '../../src/store/redeliveries.js';
import { useWorkHarness } from '../work/support/harness.js';
import { jobState, stageTasks } from '../work/support/inspect.js';
import { runWorkers, submit } from '../work/support/runtimes.js';
import { parseLogLines } from './support/logs.js';
import { parsePrometheus, sampleValue } from './support/prometheus.js';

const harness = useWorkHarness('local');

/**
 * `taken_over_test`: one task whose first attempt has its claim taken over
 * while the handler runs (its lease pushed into the past and put back by the
 * sweep's own statement), then waits until the worker notices through its
 * signal; the second attempt returns.
 */
const takenOver: JobType<{ tag: string }> = {
  name: 'taken_over_test',
  description: 'test: a claim taken over while its handler runs',
  params: z.object({ tag: z.string() }),
  stages: [
    {
      stage: 1,
      name: 'hold',
      taskType: 'hold',
      taskCount: () => 1,
      *tasks() {
        yield { index: 0, key: 'held-0', parameters: {} };
      },
      async handler(_p, ctx) {
        if (ctx.attempt > 1) return { attempt: ctx.attempt };
        // One transaction: the worker's own sweep runs every second and must not find the
        // lapsed lease first (this call would then put nothing back and the handler would throw).
        const client = await harness.db.pool.connect();
        try {
          await client.query('BEGIN');
          await client.query(`UPDATE tasks SET lease_until = now() - interval '1 second' WHERE task_id = $1`, [ctx.taskId]);
          expect(await tasksRequeueLapsed(client, { jobId: ctx.jobId, limit: 10 })).toMatchObject({ requeued: 1 });
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw err;
        } finally {
          client.release();
        }
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
        return { attempt: ctx.attempt };
      },
    },
  ],
};
registerJobTypes([{ jobType: takenOver as unknown as JobType, origin: 'test/observability/worker-events.test.ts' }]);

describe("the worker's hooks (core/events.ts) and what listens to them", () => {
  it('a claim taken over while its handler ran: the lease_lost hook, counter and warning, once; the task completes on its next attempt', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const jobId = await submit(db, lane, 'taken_over_test', { tag: 'lease' });
      const lines: string[] = [];
      const log = workLog(createLogger({ format: 'json', level: 'info', write: (line) => lines.push(line), redact: (t) => t }));
      const metrics = workerMetrics({ db });
      let leaseLost = 0;
      const notices: Array<NoticeDetail | undefined> = [];
      const counting: WorkEvents = { leaseLost: () => leaseLost++ };
      const [summary] = await runWorkers(db, lane, 1, {
        // Renewals every 250 ms, each due after half a second: the take-over is found within a second.
        leaseSeconds: 1,
        events: combineEvents(metrics.events, log.events, counting),
        onNotice: (message, detail) => {
          notices.push(detail);
          log.notice(message, detail);
        },
      });
      expect(summary).toMatchObject({ leaseLost: 1, stale: 1, completed: 1 });
      expect(leaseLost).toBe(1);
      const [task] = await stageTasks(db, jobId, 1);
      expect(task).toMatchObject({ status: 'completed', attempt: 2, result: { attempt: 2 } });
      expect((await jobState(db, jobId)).status).toBe('completed');

      expect(notices.filter((n) => n?.event === 'lease_lost')).toEqual([{ event: 'lease_lost', taskId: task!.taskId }]);
      const logged = parseLogLines(lines.join('\n')).filter((l) => l.event === 'lease_lost');
      expect(logged).toEqual([expect.objectContaining({ level: 'warn', taskId: task!.taskId, msg: expect.stringContaining('its claim was taken over') })]);
      const samples = parsePrometheus(await metrics.registry.metrics());
      expect(sampleValue(samples, 'geo_task_leases_lost_total')).toBe(1);
      // The stale first report is neither a completion nor a failure; the second attempt is the one completion.
      expect(sampleValue(samples, 'geo_tasks_claimed_total', { job_type: 'taken_over_test' })).toBe(2);
      expect(sampleValue(samples, 'geo_tasks_completed_total', { job_type: 'taken_over_test' })).toBe(1);
      expect(sampleValue(samples, 'geo_tasks_failed_total', { job_type: 'taken_over_test' })).toBe(0);
    } finally {
      await lane.close();
    }
  });

  it('combining observers passes a hook only one has as it is, calls every one of several, and adds none that nobody has', () => {
    const calls: string[] = [];
    const a: WorkEvents = { taskClaimed: (t) => calls.push(`a:${t}`), leaseLost: () => calls.push('a:lost') };
    const b: WorkEvents = { taskClaimed: (t) => calls.push(`b:${t}`) };
    const combined = combineEvents(a, undefined, b);
    expect(combined.leaseLost).toBe(a.leaseLost);
    expect(Object.keys(combined).sort()).toEqual(['leaseLost', 'taskClaimed']);
    combined.taskClaimed!('hello_world');
    expect(calls).toEqual(['a:hello_world', 'b:hello_world']);
    expect(combineEvents(undefined)).toEqual({});
  });
});
