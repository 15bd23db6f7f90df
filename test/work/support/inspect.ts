import type { Pool } from '../../../src/store/pool.js';

export interface JobState {
  status: string;
  errors: { stage: number; tasks: Array<{ taskId: string; error: string }> } | null;
}

export async function jobState(db: Pool, jobId: string): Promise<JobState> {
  const { rows } = await db.query<JobState>(`SELECT status, errors FROM jobs WHERE job_id = $1`, [jobId]);
  return rows[0]!;
}

/** Task rows of a stage as every report reads them (status derived through the batch). */
export async function stageTasks(db: Pool, jobId: string, stage: number) {
  const { rows } = await db.query<{
    taskId: string;
    taskIndex: number;
    status: string;
    attempt: number;
    result: unknown;
    error: string | null;
    parameters: Record<string, unknown>;
  }>(
    `SELECT t.task_id AS "taskId", t.task_index AS "taskIndex", t.status AS status, t.attempt,
            t.result, t.error, t.parameters
     FROM task_states t
     WHERE t.job_id = $1 AND t.stage = $2 ORDER BY t.task_index`,
    [jobId, stage],
  );
  return rows;
}

export async function stageRow(db: Pool, jobId: string, stage: number) {
  const { rows } = await db.query<{ status: string; taskCount: number; completedCount: number; failedCount: number }>(
    `SELECT status, task_count AS "taskCount", completed_count AS "completedCount", failed_count AS "failedCount"
     FROM stages WHERE job_id = $1 AND stage = $2`,
    [jobId, stage],
  );
  return rows[0];
}
