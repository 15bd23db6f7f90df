import type { JobStatus, StageStatus } from '../statuses.js';
import type { JobRow } from '../store/jobs.js';
import type { Queryable } from '../store/pool.js';
import { statusJob, statusStages } from '../store/status.js';
import { type TaskError, tasksFirstErrors } from '../store/tasks.js';
import { stageNamesOf } from './stage-names.js';

/** How many failed tasks' errors a status shows. */
const FIRST_ERRORS = 5;

export interface StageProgress {
  stage: number;
  /** Null for a stage not created yet when its job type is not loaded in this process (its name is known only there). */
  name: string | null;
  /** `pending`: not created yet (its input stage has not finished). */
  status: StageStatus | 'pending';
  expected: number;
  written: number;
  pendingQueue: number;
  queued: number;
  processing: number;
  completed: number;
  failed: number;
  /** Tasks that will never run: their job ended (cancelled, or failed elsewhere) before they started. */
  cancelled: number;
  /** Tasks retry-failed ran again after they had failed (each counted once; geo results shows their earlier runs). */
  retried: number;
  elapsedMs: number;
  /** Finished tasks per second since the stage was created. */
  tasksPerSecond: number;
}

export interface JobStatusReport {
  jobId: string;
  jobType: string;
  status: JobStatus;
  /** Set while the job is paused: since when. */
  pausedAt: Date | null;
  /** Why it was cancelled, when it was and a reason was given. */
  cancelReason: string | null;
  transport: string;
  /** The first stage not completed (a failed one is where its job stopped), or the last one. */
  currentStage: number;
  stages: StageProgress[];
  elapsedMs: number;
  tasksPerSecond: number;
  result: unknown;
  /** The first failed tasks' errors. */
  errors: TaskError[];
}

/** A stage its job type defines but that does not exist yet (its input stage has not finished). */
const NOT_CREATED = {
  status: 'pending',
  expected: 0,
  written: 0,
  pendingQueue: 0,
  queued: 0,
  processing: 0,
  completed: 0,
  failed: 0,
  cancelled: 0,
  retried: 0,
  elapsedMs: 0,
  tasksPerSecond: 0,
} as const;

/** A job's status, current stage, per-stage progress, rate and first errors. */
export async function jobStatus(db: Queryable, job: JobRow): Promise<JobStatusReport> {
  const [times, rows, errors, names] = await Promise.all([
    statusJob(db, job.jobId),
    statusStages(db, job.jobId),
    tasksFirstErrors(db, { jobId: job.jobId, limit: FIRST_ERRORS }),
    stageNamesOf(job),
  ]);
  const now = times!.now.getTime();
  const numbers = Array.from({ length: Math.max(job.stageCount, ...rows.map((r) => r.stage)) }, (_, i) => i + 1);
  const stages: StageProgress[] = numbers.map((stage) => {
    const row = rows.find((r) => r.stage === stage);
    if (!row) return { ...NOT_CREATED, stage, name: names[stage - 1] ?? null };
    const elapsedMs = (row.completedAt?.getTime() ?? now) - row.createdAt.getTime();
    const finished = row.completed + row.failed;
    const waiting = Math.max(0, row.written - row.pendingQueue - row.processing - finished);
    // Once the job has ended, what had not started never will: counted as cancelled, whether or
    // not its rows are marked yet (geo cancel marks them in chunks, each claim marks its own).
    const ended = job.status !== 'processing';
    return {
      ...row,
      pendingQueue: ended ? 0 : row.pendingQueue,
      queued: ended ? 0 : waiting,
      cancelled: ended ? waiting + row.pendingQueue : 0,
      elapsedMs,
      tasksPerSecond: elapsedMs > 0 ? Math.round((finished / elapsedMs) * 1000) : 0,
    };
  });
  // A failed stage is where its job stopped; otherwise the first stage not completed.
  const current = stages.find((s) => s.status !== 'completed') ?? stages[stages.length - 1]!;
  const elapsedMs = (times!.completedAt?.getTime() ?? now) - times!.createdAt.getTime();
  const finished = stages.reduce((sum, s) => sum + s.completed + s.failed, 0);
  return {
    jobId: job.jobId,
    jobType: job.jobType,
    status: job.status,
    pausedAt: job.pausedAt,
    cancelReason: job.status === 'cancelled' ? ((times!.errors as { reason?: string } | null)?.reason ?? null) : null,
    transport: job.processingPath,
    currentStage: current.stage,
    stages,
    elapsedMs,
    tasksPerSecond: elapsedMs > 0 ? Math.round((finished / elapsedMs) * 1000) : 0,
    result: times!.result,
    errors,
  };
}

/**
 * The `geo status --json` document, also served as `GET /api/jobs/<id>` by
 * the dashboard (contract conventions: camelCase, status and result on top).
 */
export function jobStatusJson(report: JobStatusReport) {
  return {
    jobId: report.jobId,
    jobType: report.jobType,
    status: report.status,
    pausedAt: report.pausedAt?.toISOString() ?? null,
    cancelReason: report.cancelReason ?? undefined,
    transport: report.transport,
    currentStage: report.currentStage,
    elapsedMs: report.elapsedMs,
    tasksPerSecond: report.tasksPerSecond,
    stages: report.stages,
    result: report.result,
    errors: report.errors,
  };
}
