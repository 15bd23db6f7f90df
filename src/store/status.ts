import type { StageStatus } from '../statuses.js';
import type { Queryable } from './pool.js';

export interface StageProgressRow {
  stage: number;
  name: string;
  status: StageStatus;
  expected: number;
  written: number;
  pendingQueue: number;
  processing: number;
  completed: number;
  failed: number;
  /** Tasks retry-failed ran again (each counted once). */
  retried: number;
  createdAt: Date;
  completedAt: Date | null;
}

/**
 * Each stage's progress without counting its finished tasks: completed and
 * failed are the stage's counters, written is summed over its batch rows,
 * and only unsent tasks (in pending batches) and running ones (the partial
 * index over processing tasks) are counted; queued is what remains. Cheap
 * enough to refresh every second on a stage of millions.
 */
export async function statusStages(db: Queryable, jobId: string): Promise<StageProgressRow[]> {
  const { rows } = await db.query<StageProgressRow>(
    `SELECT s.stage, s.name, s.status, s.task_count AS expected,
            coalesce((SELECT sum(b.task_count) FROM batches b WHERE b.job_id = s.job_id AND b.stage = s.stage), 0)::int AS written,
            (SELECT count(*) FROM batches b JOIN tasks t ON t.batch_id = b.batch_id
             WHERE b.job_id = s.job_id AND b.stage = s.stage AND b.status = 'pending_queue' AND t.status = 'pending_queue')::int
              AS "pendingQueue",
            (SELECT count(*) FROM tasks t WHERE t.status = 'processing' AND t.job_id = s.job_id AND t.stage = s.stage)::int AS processing,
            s.completed_count AS completed, s.failed_count AS failed, s.retried_count AS retried, s.created_at AS "createdAt", s.completed_at AS "completedAt"
     FROM stages s WHERE s.job_id = $1 ORDER BY s.stage`,
    [jobId],
  );
  return rows;
}

export interface JobTimes {
  createdAt: Date;
  completedAt: Date | null;
  result: unknown;
  errors: unknown;
  /** The database's clock now, which elapsed times are measured against. */
  now: Date;
}

export async function statusJob(db: Queryable, jobId: string): Promise<JobTimes | undefined> {
  const { rows } = await db.query<JobTimes>(
    `SELECT created_at AS "createdAt", completed_at AS "completedAt", result, errors, now() AS now FROM jobs WHERE job_id = $1`,
    [jobId],
  );
  return rows[0];
}
