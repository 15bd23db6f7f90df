import type { Queryable } from './pool.js';

/** A task the local queue handed to a worker, already claimed (`processing`, leased to it). */
export interface LocalQueueTask {
  taskId: string;
  jobId: string;
  jobType: string;
  stage: number;
  batchId: string;
  taskType: string;
  parameters: Record<string, unknown>;
  /** The claim's attempt number (1 on the first claim). */
  attempt: number;
}

/**
 * Claims up to `maxTasks` ready tasks of local-transport jobs for `worker`
 * (geo_claim_next: one statement, FOR UPDATE SKIP LOCKED, so concurrent
 * workers never receive the same task).
 */
export async function localQueueClaimNext(
  db: Queryable,
  params: { worker: string; maxTasks: number; leaseSeconds: number },
): Promise<LocalQueueTask[]> {
  const { rows } = await db.query<LocalQueueTask>(
    `SELECT task_id AS "taskId", job_id AS "jobId", job_type AS "jobType", stage, batch_id AS "batchId",
            task_type AS "taskType", parameters, attempt
     FROM geo_claim_next($1, $2, make_interval(secs => $3))`,
    [params.worker, params.maxTasks, params.leaseSeconds],
  );
  return rows;
}

/** Extends `worker`'s leases on the tasks; returns the ids it still holds (a lapsed lease may have been taken over). */
export async function localQueueRenew(
  db: Queryable,
  params: { worker: string; taskIds: string[]; leaseSeconds: number },
): Promise<string[]> {
  const { rows } = await db.query<{ taskId: string }>(
    `SELECT r.task_id AS "taskId" FROM geo_renew_tasks($1, $2::text[], make_interval(secs => $3)) AS r (task_id)`,
    [params.worker, params.taskIds, params.leaseSeconds],
  );
  return rows.map((r) => r.taskId);
}

/** Gives claimed tasks back to the queue at once (lease cleared); returns how many `worker` still held. */
export async function localQueueRelease(db: Queryable, params: { worker: string; taskIds: string[] }): Promise<number> {
  const { rows } = await db.query<{ released: number }>('SELECT geo_release_tasks($1, $2::text[]) AS released', [
    params.worker,
    params.taskIds,
  ]);
  return rows[0]?.released ?? 0;
}
