import { errorMessage } from '../../errors.js';
import { jobsNotServed } from '../../store/holders.js';
import type { Queryable } from '../../store/pool.js';
import type { Notify } from '../events.js';
import { jobTypeNames } from '../job-types/registry.js';

/**
 * Says once per job type, at start and as new jobs appear, that running jobs
 * of a job type no module here defines are left alone (the local queue does
 * not claim their tasks, a broker's are given back). Returns a stop function.
 */
export async function reportJobsNotServed(params: { db: Queryable; transport: string; everyMs: number; notice: Notify }): Promise<() => void> {
  const { db, notice } = params;
  const told = new Set<string>();
  const tell = async () => {
    for (const job of await jobsNotServed(db, { transport: params.transport, jobTypes: jobTypeNames() })) {
      if (told.has(job.jobType)) continue;
      told.add(job.jobType);
      notice(
        `job ${job.jobId.slice(0, 16)} is of job type "${job.jobType}", which no module here defines: its tasks are left ` +
          'for a worker started with --job-types (or GEO_JOB_TYPES) naming it',
        { event: 'job_type_not_served', jobId: job.jobId, jobType: job.jobType },
      );
    }
  };
  const timer = setInterval(() => void tell().catch((err: unknown) => notice(errorMessage(err))), params.everyMs);
  timer.unref();
  await tell();
  return () => clearInterval(timer);
}
