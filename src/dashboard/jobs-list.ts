import { stageNamesOf } from '../core/stage-names.js';
import { InputError } from '../errors.js';
import { JOB_STATUSES } from '../statuses.js';
import { dashboardJobsFacets, type JobsCursor, type JobsStageRow, jobsPageWithStages } from '../store/dashboard-jobs.js';
import type { Queryable } from '../store/pool.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

export interface JobsQuery {
  status?: string;
  type?: string;
  limit: number;
  cursor?: JobsCursor;
}

export interface StageSummary {
  stage: number;
  name: string | null;
  /** `pending`: not created yet (its input stage has not finished). */
  status: string;
  expected: number;
  processing: number;
  completed: number;
  failed: number;
  tasksPerSecond: number;
}

export interface JobSummary {
  jobId: string;
  jobType: string;
  status: string;
  transport: string;
  createdAt: string;
  completedAt: string | null;
  elapsedMs: number;
  currentStage: number;
  stageCount: number;
  stages: StageSummary[];
  failed: number;
  /** The current stage's finished tasks per second since it was created. */
  tasksPerSecond: number;
  /** When the current stage will be done at that rate; null when there is no rate yet or it is done. */
  etaMs: number | null;
}

export interface JobsDocument {
  jobs: JobSummary[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: string | null;
  /** Jobs per status and per type, over all jobs (the filters' choices). */
  facets: { statuses: Record<string, number>; types: Record<string, number> };
}

/** Reads `status`, `type`, `limit` and `cursor` from a query string, with errors naming the parameter. */
export function parseJobsQuery(params: URLSearchParams): JobsQuery {
  const status = params.get('status') || undefined;
  if (status !== undefined && !(JOB_STATUSES as readonly string[]).includes(status)) {
    throw new InputError('INVALID_QUERY', `status must be one of ${JOB_STATUSES.join(', ')} (got "${status}")`);
  }
  const type = params.get('type') || undefined;
  if (type !== undefined && type.length > 200) throw new InputError('INVALID_QUERY', 'type is longer than 200 characters');
  const rawLimit = params.get('limit');
  const limit = rawLimit === null || rawLimit === '' ? DEFAULT_PAGE_SIZE : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new InputError('INVALID_QUERY', `limit must be a whole number from 1 to ${MAX_PAGE_SIZE} (got "${rawLimit}")`);
  }
  const rawCursor = params.get('cursor') || undefined;
  return { status, type, limit, cursor: rawCursor === undefined ? undefined : decodeCursor(rawCursor) };
}

export function encodeCursor(cursor: JobsCursor): string {
  return Buffer.from(`${cursor.createdMicros}.${cursor.jobId}`).toString('base64url');
}

function decodeCursor(text: string): JobsCursor {
  const match = /^(\d{1,20})\.([0-9a-f]{8,64})$/.exec(Buffer.from(text, 'base64url').toString('utf8'));
  if (!match) throw new InputError('INVALID_QUERY', 'cursor is not one this dashboard gave out (take nextCursor from the last page)');
  return { createdMicros: match[1]!, jobId: match[2]! };
}

/** One page of the jobs list, newest first, with each job's stages from their counters. */
export async function jobsDocument(db: Queryable, query: JobsQuery): Promise<JobsDocument> {
  const [page, facets] = await Promise.all([
    jobsPageWithStages(db, { status: query.status, jobType: query.type, after: query.cursor, limit: query.limit }),
    dashboardJobsFacets(db),
  ]);
  const namesOf = await Promise.all(page.jobs.map(stageNamesOf));
  const jobs = page.jobs.map((row, index): JobSummary => {
    const now = row.now.getTime();
    const summaries = stageSummaries(namesOf[index]!, row.stageCount, page.stagesOf.get(row.jobId) ?? [], now);
    const current = summaries.find((s) => s.status !== 'completed') ?? summaries[summaries.length - 1];
    const remaining = current ? current.expected - current.completed - current.failed : 0;
    return {
      jobId: row.jobId,
      jobType: row.jobType,
      status: row.status,
      transport: row.transport,
      createdAt: row.createdAt.toISOString(),
      completedAt: row.completedAt?.toISOString() ?? null,
      elapsedMs: (row.completedAt?.getTime() ?? now) - row.createdAt.getTime(),
      currentStage: current?.stage ?? 1,
      stageCount: row.stageCount,
      stages: summaries,
      failed: summaries.reduce((sum, s) => sum + s.failed, 0),
      tasksPerSecond: current?.tasksPerSecond ?? 0,
      etaMs:
        row.status === 'processing' && current && current.tasksPerSecond > 0 && remaining > 0 ? Math.round((remaining / current.tasksPerSecond) * 1000) : null,
    };
  });
  const last = page.jobs[page.jobs.length - 1];
  return {
    jobs,
    nextCursor: page.more && last ? encodeCursor({ createdMicros: last.createdMicros, jobId: last.jobId }) : null,
    facets,
  };
}

/** Every stage the job has, those not created yet as `pending`, named as recorded with the job. */
function stageSummaries(names: readonly string[], stageCount: number, rows: JobsStageRow[], now: number): StageSummary[] {
  return Array.from({ length: Math.max(stageCount, rows.length) }, (_, i): StageSummary => {
    const stage = i + 1;
    const row = rows.find((r) => r.stage === stage);
    if (!row) return { stage, name: names[i] ?? null, status: 'pending', expected: 0, processing: 0, completed: 0, failed: 0, tasksPerSecond: 0 };
    const elapsedMs = (row.completedAt?.getTime() ?? now) - row.createdAt.getTime();
    const finished = row.completed + row.failed;
    return {
      stage,
      name: row.name,
      status: row.status,
      expected: row.expected,
      processing: row.processing,
      completed: row.completed,
      failed: row.failed,
      tasksPerSecond: elapsedMs > 0 ? Math.round((finished / elapsedMs) * 1000) : 0,
    };
  });
}
