import type { Queryable } from './pool.js';

export interface StageRow {
  jobId: string;
  stage: number;
  name: string;
  taskCount: number;
  batchSize: number;
  completedCount: number;
  failedCount: number;
  status: string;
}

const STAGE_COLUMNS = `job_id AS "jobId", stage, name, task_count AS "taskCount", batch_size AS "batchSize",
  completed_count AS "completedCount", failed_count AS "failedCount", status`;

/**
 * Creates the stage row unless it exists and returns the stored one: its
 * batch size, fixed by the first dispatch, keeps batch ids stable on resume.
 */
export async function stagesEnsure(
  db: Queryable,
  stage: { jobId: string; stage: number; name: string; taskCount: number; batchSize: number },
): Promise<StageRow> {
  const { rows } = await db.query<StageRow>(
    `WITH inserted AS (
       INSERT INTO stages (job_id, stage, name, task_count, batch_size)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (job_id, stage) DO NOTHING
       RETURNING ${STAGE_COLUMNS}
     )
     SELECT * FROM inserted
     UNION ALL
     SELECT ${STAGE_COLUMNS} FROM stages WHERE job_id = $1 AND stage = $2`,
    [stage.jobId, stage.stage, stage.name, stage.taskCount, stage.batchSize],
  );
  // Empty when a concurrent creator committed after this statement's snapshot.
  const row = rows[0] ?? (await stagesGet(db, stage.jobId, stage.stage));
  if (!row) throw new Error(`stage ${stage.stage} of job ${stage.jobId} vanished while it was being created`);
  return row;
}

export async function stagesGet(db: Queryable, jobId: string, stage: number): Promise<StageRow | undefined> {
  const { rows } = await db.query<StageRow>(`SELECT ${STAGE_COLUMNS} FROM stages WHERE job_id = $1 AND stage = $2`, [
    jobId,
    stage,
  ]);
  return rows[0];
}
