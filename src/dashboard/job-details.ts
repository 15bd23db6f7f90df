import { InputError } from '../errors.js';
import { dashboardErrorGroups, dashboardProblemBatches, dashboardStragglers, dashboardTask, dashboardThroughput } from '../store/dashboard-job.js';
import type { JobRow } from '../store/jobs.js';
import type { Queryable } from '../store/pool.js';
import { statusJob } from '../store/status.js';

/** Bucket sizes a chart may use, in seconds: about this many buckets cover a job's life. */
const BUCKETS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
const TARGET_BUCKETS = 300;

const PROBLEM_BATCHES = 20;
const STRAGGLERS = 10;
const ERROR_GROUPS = 10;

export interface ThroughputDocument {
  jobId: string;
  bucketSeconds: number;
  /** The job's life so far, seconds since the epoch. */
  from: number;
  to: number;
  /** Per stage: [bucket start (s), completed, failed] for each bucket with finished tasks. */
  stages: Array<{ stage: number; points: Array<[number, number, number]> }>;
}

/** The bucket that splits `spanSeconds` into about TARGET_BUCKETS. */
export function bucketFor(spanSeconds: number): number {
  return BUCKETS.find((b) => spanSeconds / b <= TARGET_BUCKETS) ?? BUCKETS[BUCKETS.length - 1]!;
}

/** Tasks finished per bucket, per stage, from the task rows' completed_at. */
export async function throughputDocument(db: Queryable, job: JobRow, params: URLSearchParams): Promise<ThroughputDocument> {
  const stages = params.getAll('stage').map((s) => wholeNumber('stage', s, 1, 10_000));
  const times = (await statusJob(db, job.jobId))!;
  const from = Math.floor(times.createdAt.getTime() / 1000);
  const to = Math.ceil((times.completedAt ?? times.now).getTime() / 1000);
  const rawBucket = params.get('bucket');
  const bucketSeconds = rawBucket ? wholeNumber('bucket', rawBucket, 1, 86_400) : bucketFor(to - from);
  const rows = await dashboardThroughput(db, { jobId: job.jobId, stages: stages.length > 0 ? stages : undefined, bucketSeconds });
  const byStage = new Map<number, Array<[number, number, number]>>();
  for (const row of rows) {
    const points = byStage.get(row.stage) ?? [];
    points.push([Number(row.at), row.completed, row.failed]);
    byStage.set(row.stage, points);
  }
  return { jobId: job.jobId, bucketSeconds, from, to, stages: [...byStage].map(([stage, points]) => ({ stage, points })) };
}

/** What holds a job up: problem batches, the longest-running tasks, and its errors grouped by message. */
export async function problemsDocument(db: Queryable, job: JobRow) {
  const [problemBatches, stragglers, errors] = await Promise.all([
    dashboardProblemBatches(db, { jobId: job.jobId, limit: PROBLEM_BATCHES }),
    dashboardStragglers(db, { jobId: job.jobId, limit: STRAGGLERS }),
    dashboardErrorGroups(db, { jobId: job.jobId, limit: ERROR_GROUPS }),
  ]);
  return { jobId: job.jobId, problemBatches, stragglers, errors };
}

export async function taskDocument(db: Queryable, job: JobRow, taskId: string) {
  if (taskId.length > 300) throw new InputError('INVALID_QUERY', 'a task id is at most 300 characters');
  const task = await dashboardTask(db, { jobId: job.jobId, taskId });
  if (!task) throw new InputError('TASK_NOT_FOUND', `job ${job.jobId} has no task ${taskId}`);
  return task;
}

export function wholeNumber(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new InputError('INVALID_QUERY', `${name} must be a whole number from ${min} to ${max} (got "${text}")`);
  }
  return n;
}
