import type { TaskStatusCounts } from '../statuses.js';
import type { Queryable } from './pool.js';

export interface JobBacklogRow {
  jobId: string;
  jobType: string;
  /** Tasks of its existing stages not finished yet. */
  backlog: number;
}

/** Every running job's unfinished tasks, from the stage counters. */
export async function metricsJobBacklog(db: Queryable): Promise<JobBacklogRow[]> {
  const { rows } = await db.query<JobBacklogRow>(
    `SELECT j.job_id AS "jobId", j.job_type AS "jobType",
            coalesce(sum(greatest(0, s.task_count - s.completed_count - s.failed_count)), 0)::bigint AS backlog
     FROM jobs j LEFT JOIN stages s ON s.job_id = j.job_id
     WHERE j.status = 'processing'
     GROUP BY j.job_id, j.job_type`,
  );
  return rows;
}

/**
 * Tasks by status per job type, without counting finished task rows:
 * completed and failed are the stage counters; pending and processing are
 * read through their partial indexes; queued is what the written tasks of
 * open stages leave (as `geo status` derives it).
 */
export async function metricsTasksByStatus(db: Queryable): Promise<Array<{ jobType: string; counts: TaskStatusCounts }>> {
  const { rows } = await db.query<{ jobType: string } & TaskStatusCounts>(
    `WITH counters AS (
       SELECT j.job_type, sum(s.completed_count)::bigint AS completed, sum(s.failed_count)::bigint AS failed
       FROM jobs j JOIN stages s ON s.job_id = j.job_id GROUP BY j.job_type
     ), open_written AS (
       SELECT j.job_type, sum(b.task_count)::bigint AS written
       FROM stages s JOIN jobs j ON j.job_id = s.job_id
       JOIN batches b ON b.job_id = s.job_id AND b.stage = s.stage
       WHERE s.status IN ('queuing', 'processing')
       GROUP BY j.job_type
     ), open_finished AS (
       SELECT j.job_type, sum(s.completed_count + s.failed_count)::bigint AS finished
       FROM stages s JOIN jobs j ON j.job_id = s.job_id
       WHERE s.status IN ('queuing', 'processing')
       GROUP BY j.job_type
     ), pending AS (
       SELECT j.job_type, count(*)::bigint AS n
       FROM batches b JOIN tasks t ON t.batch_id = b.batch_id JOIN jobs j ON j.job_id = b.job_id
       WHERE b.status = 'pending_queue' AND t.status = 'pending_queue'
       GROUP BY j.job_type
     ), running AS (
       SELECT j.job_type, count(*)::bigint AS n
       FROM tasks t JOIN jobs j ON j.job_id = t.job_id
       WHERE t.status = 'processing'
       GROUP BY j.job_type
     )
     SELECT c.job_type AS "jobType",
            coalesce(p.n, 0) AS pending_queue,
            greatest(0, coalesce(w.written, 0) - coalesce(f.finished, 0) - coalesce(p.n, 0) - coalesce(r.n, 0)) AS queued,
            coalesce(r.n, 0) AS processing, c.completed, c.failed
     FROM counters c
     LEFT JOIN open_written w ON w.job_type = c.job_type
     LEFT JOIN open_finished f ON f.job_type = c.job_type
     LEFT JOIN pending p ON p.job_type = c.job_type
     LEFT JOIN running r ON r.job_type = c.job_type
     ORDER BY c.job_type`,
  );
  return rows.map(({ jobType, ...counts }) => ({ jobType, counts }));
}

/** Jobs by type and status. */
export async function metricsJobs(db: Queryable): Promise<Array<{ jobType: string; status: string; jobs: number }>> {
  const { rows } = await db.query<{ jobType: string; status: string; jobs: number }>(
    `SELECT job_type AS "jobType", status, count(*)::int AS jobs FROM jobs GROUP BY job_type, status ORDER BY 1, 2`,
  );
  return rows;
}
