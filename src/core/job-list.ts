import { InputError } from '../errors.js';
import { JOB_STATUSES, type JobStatus } from '../statuses.js';
import { jobsPageWithStages } from '../store/dashboard-jobs.js';
import type { Queryable } from '../store/pool.js';
import { stageNamesOf } from './stage-names.js';

export const DEFAULT_JOBS_LIMIT = 20;
export const MAX_JOBS_LIMIT = 1_000;

export interface JobListQuery {
  status?: JobStatus;
  type?: string;
  limit: number;
}

export interface JobListStage {
  stage: number;
  /** Null for a stage not created yet of a job type this process has not loaded. */
  name: string | null;
  /** `pending`: not created yet (its input stage has not finished). */
  status: string;
  expected: number;
  completed: number;
  failed: number;
  processing: number;
}

export interface JobListEntry {
  jobId: string;
  jobType: string;
  status: JobStatus;
  /** Set while the job is paused: since when. */
  pausedAt: Date | null;
  transport: string;
  createdAt: Date;
  completedAt: Date | null;
  /** Since it was created, on the database's clock. */
  ageMs: number;
  stageCount: number;
  /** The first stage not completed (where a failed or cancelled job stopped), or the last one. */
  current: JobListStage;
  /** Finished and expected tasks over the stages created so far. */
  finished: number;
  expected: number;
}

export interface JobList {
  jobs: JobListEntry[];
  /** More jobs match than the limit let through. */
  more: boolean;
}

/** Checks `--status` and `--limit` before anything is read. */
export function jobListQuery(options: { status?: string; type?: string; limit?: number }): JobListQuery {
  if (options.status !== undefined && !(JOB_STATUSES as readonly string[]).includes(options.status)) {
    throw new InputError('INVALID_STATUS', `--status must be one of ${JOB_STATUSES.join(', ')} (got "${options.status}"); paused jobs are processing ones`);
  }
  return { status: options.status as JobStatus | undefined, type: options.type, limit: options.limit ?? DEFAULT_JOBS_LIMIT };
}

/**
 * `geo jobs`: the newest jobs first, each with its current stage and
 * progress from the stage counters (the dashboard's keyset query and
 * indexes, migrations/008), so listing costs the same for jobs of ten tasks
 * or ten million.
 */
export async function listJobs(db: Queryable, query: JobListQuery): Promise<JobList> {
  const page = await jobsPageWithStages(db, { status: query.status, jobType: query.type, limit: query.limit });
  const namesOf = await Promise.all(page.jobs.map(stageNamesOf));
  const jobs = page.jobs.map((row, index): JobListEntry => {
    const created = page.stagesOf.get(row.jobId) ?? [];
    const names = namesOf[index]!;
    const all = Array.from({ length: Math.max(row.stageCount, created.length) }, (_, i): JobListStage => {
      const r = created.find((s) => s.stage === i + 1);
      if (!r) return { stage: i + 1, name: names[i] ?? null, status: 'pending', expected: 0, completed: 0, failed: 0, processing: 0 };
      return { stage: r.stage, name: r.name, status: r.status, expected: r.expected, completed: r.completed, failed: r.failed, processing: r.processing };
    });
    const current = all.find((s) => s.status !== 'completed') ?? all[all.length - 1]!;
    return {
      jobId: row.jobId,
      jobType: row.jobType,
      status: row.status as JobStatus,
      pausedAt: row.pausedAt,
      transport: row.transport,
      createdAt: row.createdAt,
      completedAt: row.completedAt,
      ageMs: row.now.getTime() - row.createdAt.getTime(),
      stageCount: row.stageCount,
      current,
      finished: created.reduce((sum, s) => sum + s.completed + s.failed, 0),
      expected: created.reduce((sum, s) => sum + s.expected, 0),
    };
  });
  return { jobs, more: page.more };
}
