import { TASK_STATUSES, type TaskStatus, type TaskStatusCounts, zeroTaskCounts } from '../statuses.js';
import type { Queryable } from '../store/pool.js';
import { type BatchReportRow, reportsBatches, reportsStages, type StageReportRow } from '../store/reports.js';

export type { BatchReportRow, StageReportRow };

export interface BatchReport {
  jobId: string;
  summary: {
    batches: number;
    batchesByStatus: Record<string, number>;
    tasks: number;
    counts: TaskStatusCounts;
  };
  /** Every stage of the job (or the one filtered): declared against written tasks. */
  stages: StageReportRow[];
  /** Stages not fully written (a submit that stopped half-way): a problem even when every batch written is fine. */
  incompleteStages: StageReportRow[];
  /** The batches selected by the filters (all of them unless filtered). */
  batches: BatchReportRow[];
  /** Of those, the ones needing attention: not queued, or holding failed or pending tasks. */
  problems: BatchReportRow[];
}

export interface BatchReportFilter {
  stage?: number;
  /** A batch status, or a task status that at least one of the batch's tasks has. */
  status?: TaskStatus;
}

export async function batchReport(db: Queryable, jobId: string, filter: BatchReportFilter = {}): Promise<BatchReport> {
  const [rows, stages] = await Promise.all([reportsBatches(db, { jobId, stage: filter.stage }), reportsStages(db, { jobId, stage: filter.stage })]);
  const counts = zeroTaskCounts();
  const batchesByStatus: Record<string, number> = {};
  let tasks = 0;
  for (const row of rows) {
    tasks += row.tasks;
    batchesByStatus[row.status] = (batchesByStatus[row.status] ?? 0) + 1;
    for (const status of TASK_STATUSES) counts[status] += row.counts[status];
  }
  const selected = filter.status ? rows.filter((r) => r.status === filter.status || r.counts[filter.status!] > 0) : rows;
  return {
    jobId,
    summary: { batches: rows.length, batchesByStatus, tasks, counts },
    stages,
    incompleteStages: stages.filter((s) => s.status === 'queuing'),
    batches: selected,
    problems: selected.filter(isProblem),
  };
}

function isProblem(row: BatchReportRow): boolean {
  return row.status !== 'queued' || row.counts.failed > 0 || row.counts.pending_queue > 0;
}
