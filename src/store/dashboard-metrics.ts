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
 * read through their partial indexes (only for stages not completed); what
 * the written tasks of a stage leave is queued while the stage and its job
 * run, and cancelled when either ended (as `geo status` derives queued).
 */
export async function metricsTasksByStatus(db: Queryable): Promise<Array<{ jobType: string; counts: TaskStatusCounts }>> {
  const { rows } = await db.query<{ jobType: string } & TaskStatusCounts>(
    `WITH per_stage AS (
       SELECT j.job_type, s.completed_count AS completed, s.failed_count AS failed,
              j.status = 'processing' AND s.status IN ('queuing', 'processing') AS open,
              CASE WHEN s.status = 'completed' THEN 0 ELSE
                coalesce((SELECT sum(b.task_count) FROM batches b WHERE b.job_id = s.job_id AND b.stage = s.stage), 0) END AS written,
              CASE WHEN s.status = 'completed' THEN 0 ELSE
                (SELECT count(*) FROM tasks t WHERE t.status = 'processing' AND t.job_id = s.job_id AND t.stage = s.stage) END AS running,
              CASE WHEN s.status = 'completed' THEN 0 ELSE
                (SELECT count(*) FROM batches b JOIN tasks t ON t.batch_id = b.batch_id
                 WHERE b.job_id = s.job_id AND b.stage = s.stage AND b.status = 'pending_queue' AND t.status = 'pending_queue') END AS pending
       FROM stages s JOIN jobs j ON j.job_id = s.job_id
     ), left_over AS (
       SELECT *, greatest(0, written - completed - failed - pending - running) AS rest FROM per_stage
     )
     SELECT job_type AS "jobType", sum(pending)::bigint AS pending_queue,
            sum(CASE WHEN open THEN rest ELSE 0 END)::bigint AS queued,
            sum(running)::bigint AS processing, sum(completed)::bigint AS completed, sum(failed)::bigint AS failed,
            sum(CASE WHEN open THEN 0 ELSE rest END)::bigint AS cancelled
     FROM left_over GROUP BY job_type ORDER BY job_type`,
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
