/**
 * Every status geo stores, defined once. The migrations' CHECK constraints
 * hold the same lists (test/store/statuses.test.ts compares them with the
 * database), and the types, reports and SQL below follow these.
 */

/**
 * A task's life: written, on the queue, claimed by a worker, finished;
 * `cancelled` when its job ended before it ran (it never will).
 */
export const TASK_STATUSES = ['pending_queue', 'queued', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
export type TaskStatusCounts = Record<TaskStatus, number>;

/**
 * A batch is sent as a whole: pending until every task has a message, then
 * queued (or given up on); `cancelled` when its job ended before it was sent.
 */
export const BATCH_STATUSES = ['pending_queue', 'queued', 'failed', 'cancelled'] as const;
export type BatchStatus = (typeof BATCH_STATUSES)[number];

/** `queuing` while its tasks are being written; `processing` once all are; `cancelled` with its job. */
export const STAGE_STATUSES = ['queuing', 'processing', 'completed', 'failed', 'cancelled'] as const;
export type StageStatus = (typeof STAGE_STATUSES)[number];

export const JOB_STATUSES = ['processing', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** Statuses a task never leaves. */
export const FINISHED_TASK_STATUSES: readonly TaskStatus[] = ['completed', 'failed', 'cancelled'];

export function zeroTaskCounts(): TaskStatusCounts {
  return Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as TaskStatusCounts;
}

export function isTaskStatus(value: string): value is TaskStatus {
  return (TASK_STATUSES as readonly string[]).includes(value);
}
