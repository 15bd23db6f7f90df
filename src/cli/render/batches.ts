import Table from 'cli-table3';
import type { BatchReport, BatchReportRow } from '../../core/batch-report.js';
import { TASK_STATUSES } from '../../statuses.js';
import { formatCount, type Output } from '../output.js';

/** The `--json` document of `geo batches` (see the interface contract). */
export function batchReportJson(report: BatchReport) {
  return {
    jobId: report.jobId,
    summary: report.summary,
    stages: report.stages,
    batches: report.batches.map((b) => ({
      batchId: b.batchId,
      stage: b.stage,
      tasks: b.tasks,
      status: b.status,
      counts: b.counts,
      attempts: b.attempts,
      lastError: b.lastError,
    })),
  };
}

export function renderBatchReport(output: Output, report: BatchReport, opts: { all: boolean; limit: number }): void {
  const { summary } = report;
  const byStatus = Object.entries(summary.batchesByStatus)
    .map(([status, count]) => `${formatCount(count)} ${status}`)
    .join(', ');
  output.line(`job ${report.jobId}`);
  output.line(`  ${formatCount(summary.batches)} batches (${byStatus || 'none'}), ${formatCount(summary.tasks)} tasks:`);
  output.line(`  ${TASK_STATUSES.map((s) => `${s} ${formatCount(summary.counts[s])}`).join(', ')}`);
  for (const stage of report.incompleteStages) {
    output.line(
      `  problem: stage ${stage.stage} (${stage.name}) is not fully written: ${formatCount(stage.writtenTasks)} of ` +
        `${formatCount(stage.expectedTasks)} tasks; run the same submit again, or geo retry-pending, to finish it`,
    );
  }

  const rows = opts.all ? report.batches : report.problems;
  if (!opts.all) {
    if (rows.length === 0) {
      const among = report.incompleteStages.length > 0 ? ' among those written' : '';
      output.line(`\nno problem batches${among}${report.batches.length > 0 ? ` (--all lists all ${formatCount(report.batches.length)})` : ''}`);
      return;
    }
    output.line(`\n${formatCount(rows.length)} problem batches (not queued, or with pending or failed tasks):`);
  }
  const shown = rows.slice(0, opts.limit);
  output.line(table(shown));
  if (rows.length > shown.length) {
    output.line(`... ${formatCount(rows.length - shown.length)} more (raise --limit, or use --json)`);
  } else if (!opts.all && report.batches.length > rows.length) {
    output.line(`--all lists all ${formatCount(report.batches.length)} batches`);
  }
}

function table(rows: BatchReportRow[]): string {
  const t = new Table({
    head: ['batch', 'stage', 'tasks', 'status', ...TASK_STATUSES, 'attempts', 'last error'],
    style: { head: [], border: [] },
  });
  for (const r of rows) {
    t.push([
      r.batchId,
      r.stage,
      r.tasks,
      r.status,
      ...TASK_STATUSES.map((s) => r.counts[s]),
      r.attempts,
      truncate(r.lastError ?? '', 60),
    ]);
  }
  return t.toString();
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
