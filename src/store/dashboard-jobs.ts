import type { Queryable } from './pool.js';

/** Where a page of the newest-first jobs list starts: after this job. */
export interface JobsCursor {
  /** created_at in microseconds since the epoch (a Date keeps only milliseconds). */
  createdMicros: string;
  jobId: string;
}

export interface JobsListRow {
  jobId: string;
  jobType: string;
  status: string;
  /** Set while the job is paused: since when. */
  pausedAt: Date | null;
  transport: string;
  stageCount: number;
  /** Null for a job written before stage names were recorded (migration 012). */
  stageNames: string[] | null;
  createdAt: Date;
  completedAt: Date | null;
  createdMicros: string;
  now: Date;
}

/**
 * One page of jobs, newest first, optionally of one status and one type.
 * Keyset paging over (created_at, job_id): each page costs the same however
 * deep it is (migrations/008's indexes serve each filter).
 */
export async function dashboardJobsPage(
  db: Queryable,
  params: { status?: string; jobType?: string; after?: JobsCursor; limit: number },
): Promise<JobsListRow[]> {
  const { rows } = await db.query<JobsListRow>(
    `SELECT j.job_id AS "jobId", j.job_type AS "jobType", j.status, j.paused_at AS "pausedAt", j.processing_path AS transport,
            j.stage_count AS "stageCount", j.stage_names AS "stageNames", j.created_at AS "createdAt", j.completed_at AS "completedAt",
            (extract(epoch FROM j.created_at) * 1000000)::bigint::text AS "createdMicros", now() AS now
     FROM jobs j
     WHERE ($1::text IS NULL OR j.status = $1)
       AND ($2::text IS NULL OR j.job_type = $2)
       AND ($3::bigint IS NULL OR (j.created_at, j.job_id) < ('epoch'::timestamptz + $3::bigint * interval '1 microsecond', $4::text))
     ORDER BY j.created_at DESC, j.job_id DESC
     LIMIT $5`,
    [params.status ?? null, params.jobType ?? null, params.after?.createdMicros ?? null, params.after?.jobId ?? null, params.limit],
  );
  return rows;
}

export interface JobsStageRow {
  jobId: string;
  stage: number;
  name: string;
  status: string;
  expected: number;
  processing: number;
  completed: number;
  failed: number;
  createdAt: Date;
  completedAt: Date | null;
}

/**
 * The stages of a page of jobs from their counters, plus running tasks
 * (the partial index over processing tasks). No task or batch of a finished
 * stage is read, so the list costs the same for jobs of ten tasks or ten
 * million.
 */
export async function dashboardJobsStages(db: Queryable, jobIds: string[]): Promise<JobsStageRow[]> {
  if (jobIds.length === 0) return [];
  const { rows } = await db.query<JobsStageRow>(
    `WITH running AS (
       SELECT t.job_id, t.stage, count(*)::int AS n FROM tasks t
       WHERE t.status = 'processing' AND t.job_id = ANY($1::text[])
       GROUP BY t.job_id, t.stage
     )
     SELECT s.job_id AS "jobId", s.stage, s.name, s.status, s.task_count AS expected,
            coalesce(r.n, 0) AS processing, s.completed_count AS completed, s.failed_count AS failed,
            s.created_at AS "createdAt", s.completed_at AS "completedAt"
     FROM stages s LEFT JOIN running r ON r.job_id = s.job_id AND r.stage = s.stage
     WHERE s.job_id = ANY($1::text[])
     ORDER BY s.job_id, s.stage`,
    [jobIds],
  );
  return rows;
}

/** One page of jobs with the stages of each, and whether more jobs follow it. */
export interface JobsPage {
  jobs: JobsListRow[];
  stagesOf: Map<string, JobsStageRow[]>;
  more: boolean;
}

/** dashboardJobsPage and dashboardJobsStages together: what the dashboard and `geo jobs` list. */
export async function jobsPageWithStages(db: Queryable, params: { status?: string; jobType?: string; after?: JobsCursor; limit: number }): Promise<JobsPage> {
  // One row more than asked says whether more follow.
  const rows = await dashboardJobsPage(db, { ...params, limit: params.limit + 1 });
  const jobs = rows.slice(0, params.limit);
  const stagesOf = new Map<string, JobsStageRow[]>();
  for (const stage of await dashboardJobsStages(
    db,
    jobs.map((r) => r.jobId),
  )) {
    const list = stagesOf.get(stage.jobId);
    if (list) list.push(stage);
    else stagesOf.set(stage.jobId, [stage]);
  }
  return { jobs, stagesOf, more: rows.length > params.limit };
}

export interface JobsFacets {
  statuses: Record<string, number>;
  types: Record<string, number>;
}

/** How many jobs there are of each status and of each type (the filters' choices). */
export async function dashboardJobsFacets(db: Queryable): Promise<JobsFacets> {
  const { rows } = await db.query<{ facet: 'status' | 'type'; value: string; count: number }>(
    `SELECT 'status' AS facet, status AS value, count(*)::int AS count FROM jobs GROUP BY status
     UNION ALL
     SELECT 'type', job_type, count(*)::int FROM jobs GROUP BY job_type`,
  );
  const facets: JobsFacets = { statuses: {}, types: {} };
  for (const row of rows) (row.facet === 'status' ? facets.statuses : facets.types)[row.value] = row.count;
  return facets;
}
