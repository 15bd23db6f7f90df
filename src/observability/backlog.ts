import { Gauge, type Registry } from 'prom-client';
import { metricsJobBacklog } from '../store/dashboard-metrics.js';
import type { Queryable } from '../store/pool.js';

/**
 * `geo_job_backlog_tasks`: every running job's unfinished tasks, read from
 * the stage counters at scrape time (nothing counted in memory, so every
 * process that serves it agrees with the database). Served by the
 * dashboard's /metrics and by `geo work --metrics-port`.
 */
export function registerBacklogGauge(registry: Registry, db: Queryable): Gauge<'job_id' | 'job_type'> {
  return new Gauge({
    name: 'geo_job_backlog_tasks',
    help: 'Tasks of a running job not finished yet (its existing stages).',
    labelNames: ['job_id', 'job_type'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await metricsJobBacklog(db)) this.set({ job_id: row.jobId, job_type: row.jobType }, row.backlog);
    },
  });
}
