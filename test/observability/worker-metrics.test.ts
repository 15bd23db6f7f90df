import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TransportName } from '../../src/config/index.js';
import { dashboardMetrics } from '../../src/dashboard/metrics.js';
import { workerMetrics } from '../../src/observability/metrics.js';
import type { Pool } from '../../src/store/pool.js';
import { parseJsonOutput, runGeo, startGeo } from '../support/cli.js';
import { waitFor } from '../support/wait.js';
import { useWorkHarness } from '../work/support/harness.js';
import { jobState } from '../work/support/inspect.js';
import { submit } from '../work/support/runtimes.js';
import { waitForLogLine } from './support/logs.js';
import { parsePrometheus, type Sample, sampleSum, sampleValue } from './support/prometheus.js';

const MODULE = path.resolve(import.meta.dirname, 'support/observed-job-type.mjs');

interface Truth {
  completed: number;
  failed: number;
  /** Claims: every attempt of every task (no task was given back or lapsed in these runs). */
  attempts: number;
}

/** What the database says happened to a job's tasks: the ground truth the counters must equal. */
async function sqlTruth(db: Pool, jobId: string): Promise<Truth> {
  const { rows } = await db.query<Truth>(
    `SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed, count(*) FILTER (WHERE status = 'failed')::int AS failed,
            coalesce(sum(attempt), 0)::int AS attempts
     FROM tasks WHERE job_id = $1`,
    [jobId],
  );
  return rows[0]!;
}

function counters(samples: Sample[], jobType: string): Truth & { retried: number } {
  const value = (name: string) => sampleValue(samples, name, { job_type: jobType });
  return {
    completed: value('geo_tasks_completed_total'),
    failed: value('geo_tasks_failed_total'),
    attempts: value('geo_tasks_claimed_total'),
    retried: value('geo_tasks_retried_total'),
  };
}

describe.each<TransportName>(['local', 'servicebus'])('geo work --metrics-port (%s)', (transport) => {
  const harness = useWorkHarness(transport);

  it('after a run, /metrics counts per job type what SQL counts: claims, completions, retries, failures, handler runs, advancements, batch sends', async () => {
    const db = harness.db.pool;
    const lane = await harness.lane();
    try {
      const env = lane.env();
      const submitted: Record<string, string> = {};
      for (const [type, params] of [
        ['hello_world', ['--n', '150', '--param', `name=metrics-${transport}`]],
        ['observed_test', ['--param', 'n=40', '--param', `tag=metrics-${transport}`]],
      ] as const) {
        const run = await runGeo(['--job-types', MODULE, 'submit', type, ...params, '--json'], env);
        expect(run.code, run.stderr).toBe(0);
        submitted[type] = parseJsonOutput<{ jobId: string }>(run).jobId;
      }
      const worker = startGeo(['--job-types', MODULE, 'work', '--metrics-port', '0', '--log-format', 'json', '--json'], env);
      let samples: Sample[];
      const truth: Record<string, Truth & { retried: number }> = {};
      try {
        const started = await waitForLogLine(worker.child, (line) => line.event === 'worker_started');
        expect(started.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
        await waitFor(
          'both jobs to end',
          async () => {
            const states = await Promise.all(Object.values(submitted).map((jobId) => jobState(db, jobId)));
            return states.every((s) => s.status === 'completed' || s.status === 'failed') ? true : undefined;
          },
          { timeoutMs: 90_000 },
        );
        for (const [type, jobId] of Object.entries(submitted)) {
          const t = await sqlTruth(db, jobId);
          truth[type] = { ...t, retried: t.attempts - t.completed - t.failed };
        }
        // The counters follow the database's answers; the last of them may still be on their way when the job row ends.
        samples = await waitFor('the counters to reach the SQL counts', async () => {
          const scraped = parsePrometheus(await (await fetch(started.metricsUrl as string)).text());
          const reached = Object.keys(submitted).every((type) => counters(scraped, type).completed === truth[type]!.completed);
          return reached ? scraped : undefined;
        });
      } finally {
        worker.child.kill('SIGTERM');
      }
      const ended = await worker.done;
      expect(ended.signal ?? ended.code, ended.stderr).toBe('SIGTERM');

      // The cases were all hit: n = 40 has 6 multiples of 7 (failed for good) and 12 other multiples of 3 (retried once).
      expect(truth.observed_test).toEqual({ completed: 34, failed: 6, attempts: 52, retried: 12 });
      expect(truth.hello_world).toEqual({ completed: 300, failed: 0, attempts: 300, retried: 0 });
      for (const type of ['hello_world', 'observed_test']) {
        expect(counters(samples, type), type).toEqual(truth[type]);
        const t = truth[type]!;
        expect(sampleValue(samples, 'geo_task_handler_duration_seconds_count', { job_type: type, outcome: 'ok' })).toBe(t.completed);
        expect(sampleValue(samples, 'geo_task_handler_duration_seconds_count', { job_type: type, outcome: 'error' })).toBe(t.failed + t.retried);
        expect(sampleValue(samples, 'geo_task_handler_duration_seconds_bucket', { job_type: type, outcome: 'ok', le: '+Inf' })).toBe(t.completed);
      }
      // hello_world: stage 1 queued stage 2, stage 2 completed the job; observed_test's one stage failed it.
      expect(sampleValue(samples, 'geo_stage_advancements_total', { action: 'queued-next-stage' })).toBe(1);
      expect(sampleValue(samples, 'geo_stage_advancements_total', { action: 'job-completed' })).toBe(1);
      expect(sampleValue(samples, 'geo_stage_advancements_total', { action: 'job-failed' })).toBe(1);
      // Both jobs ended: no backlog is left for them.
      expect(samples.filter((s) => s.name === 'geo_job_backlog_tasks' && Object.values(submitted).includes(s.labels.job_id!))).toEqual([]);
      if (transport === 'local') {
        // The local queue's messages are its task rows: nothing is sent.
        expect(sampleSum(samples, 'geo_batch_send_messages_count')).toBe(0);
      } else {
        // The worker sent stage 2 of hello_world (150 tasks, batches of at most 100) and the 12 retries.
        expect(sampleSum(samples, 'geo_batch_send_messages_sum', { transport })).toBe(150 + truth.observed_test!.retried);
        expect(sampleValue(samples, 'geo_batch_send_messages_count', { transport, operation: 'send' })).toBeGreaterThanOrEqual(2);
        expect(sampleSum(samples, 'geo_batch_send_duration_seconds_count', { transport, outcome: 'error' })).toBe(0);
      }
    } finally {
      await lane.close();
    }
  });

  if (transport === 'local') {
    it('the backlog per job comes from SQL at scrape time, the same figure the dashboard serves', async () => {
      const db = harness.db.pool;
      const lane = await harness.lane();
      try {
        const jobId = await submit(db, lane, 'hello_world', { n: 150, name: 'backlog' });
        const { rows } = await db.query<{ left: number }>(
          `SELECT sum(task_count - completed_count - failed_count)::int AS left FROM stages WHERE job_id = $1`,
          [jobId],
        );
        const worker = parsePrometheus(await workerMetrics({ db }).registry.metrics());
        const dashboard = parsePrometheus(await dashboardMetrics(db, () => 0).metrics());
        expect(rows[0]!.left).toBe(150);
        expect(sampleValue(worker, 'geo_job_backlog_tasks', { job_id: jobId })).toBe(150);
        expect(sampleValue(dashboard, 'geo_job_backlog_tasks', { job_id: jobId })).toBe(150);
        // Leave nothing queued for the next test.
        expect((await runGeo(['work', '--until-idle', '--idle', '1s'], lane.env())).code).toBe(0);
      } finally {
        await lane.close();
      }
    });
  }
});
