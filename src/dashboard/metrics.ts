import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { registerBacklogGauge } from '../observability/backlog.js';
import { TASK_STATUSES } from '../statuses.js';
import { metricsJobs, metricsTasksByStatus } from '../store/dashboard-metrics.js';
import type { Queryable } from '../store/pool.js';

/**
 * The dashboard's Prometheus metrics, read from SQL at scrape time (nothing
 * is counted in memory, so every dashboard and every restart agrees with the
 * database). A registry of its own: nothing else in the process adds to it.
 */
export function dashboardMetrics(db: Queryable, sseClients: () => number): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerBacklogGauge(registry, db);
  new Gauge({
    name: 'geo_tasks',
    help: 'Tasks by status and job type (completed and failed from the stage counters).',
    labelNames: ['job_type', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await metricsTasksByStatus(db)) {
        for (const status of TASK_STATUSES) this.set({ job_type: row.jobType, status }, row.counts[status]);
      }
    },
  });
  new Gauge({
    name: 'geo_jobs',
    help: 'Jobs by type and status.',
    labelNames: ['job_type', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await metricsJobs(db)) this.set({ job_type: row.jobType, status: row.status }, row.jobs);
    },
  });
  new Gauge({
    name: 'geo_dashboard_event_streams',
    help: 'Pages following live updates (open server-sent event streams).',
    registers: [registry],
    collect() {
      this.set(sseClients());
    },
  });
  return registry;
}
