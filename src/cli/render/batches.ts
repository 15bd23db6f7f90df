import type { BatchReport, BatchReportRow } from '../../core/batch-report.js';
import { TASK_STATUSES, type TaskStatus } from '../../statuses.js';
import { formatCount, plural } from '../format.js';
import type { Output } from '../output.js';
import { type Column, formatTable } from '../table.js';
import { paragraph } from './paragraph.js';

/** The `--json` document of `geo batches` (see the interface contract); `limit` caps the list. */
export function batchReportJson(report: BatchReport, limit?: number) {
  const batches = limit === undefined ? report.batches : report.batches.slice(0, limit);
  return {
    jobId: report.jobId,
    summary: report.summary,
    stages: report.stages,
    batches: batches.map((b) => ({
      batchId: b.batchId,
      stage: b.stage,
      tasks: b.tasks,
      status: b.status,
      counts: b.counts,
      attempts: b.attempts,
      lastError: b.lastError,
    })),
    /** Batches matching the filters that --limit left out. */
    omittedBatches: report.batches.length - batches.length,
  };
}

export interface BatchListOptions {
  all: boolean;
  status?: TaskStatus;
  limit: number;
}

export function renderBatchReport(output: Output, report: BatchReport, opts: BatchListOptions): void {
  const { summary } = report;
  const byStatus = Object.entries(summary.batchesByStatus)
    .map(([status, count]) => `${formatCount(count)} ${status}`)
    .join(', ');
  output.line(`job ${report.jobId}`);
  output.line(`  ${plural(summary.batches, 'batch', 'batches')} (${byStatus || 'none'}), ${plural(summary.tasks, 'task')}:`);
  // `cancelled` only when some task is: most jobs never have one, and the line must fit 80 columns.
  const counted = TASK_STATUSES.filter((s) => s !== 'cancelled' || summary.counts[s] > 0);
  output.line(`  ${counted.map((s) => `${s} ${formatCount(summary.counts[s])}`).join(', ')}`);
  for (const stage of report.incompleteStages) {
    paragraph(
      output,
      `  problem: stage ${stage.stage} (${stage.name}) is not fully written: ${formatCount(stage.writtenTasks)} of ` +
        `${plural(stage.expectedTasks, 'task')}; run the same submit again, or geo retry-pending, to finish it`,
      '    ',
    );
  }

  // A status filter is itself the selection; only the unfiltered default narrows to problems.
  const listAll = opts.all || opts.status !== undefined;
  const rows = listAll ? report.batches : report.problems;
  if (rows.length === 0) {
    const among = report.incompleteStages.length > 0 ? ' among those written' : '';
    if (opts.status) output.line(`\nno batches with status ${opts.status} or with ${opts.status} tasks${among}`);
    else if (!opts.all) output.line(`\nno problem batches${among}${summary.batches > 0 ? ` (--all lists all ${formatCount(summary.batches)})` : ''}`);
    else output.line('\nno batches');
    return;
  }
  if (opts.status) output.line(`\n${plural(rows.length, 'batch', 'batches')} with status ${opts.status} or with ${opts.status} tasks:`);
  else if (!opts.all) output.line(`\n${plural(rows.length, 'problem batch', 'problem batches')} (not queued, or with pending or failed tasks):`);
  else output.line('');
  const shown = rows.slice(0, opts.limit);
  const table = batchTable(shown, output.fitted, output.width);
  output.line(table.text);
  if (rows.length > shown.length) {
    output.line(`... ${formatCount(rows.length - shown.length)} more (raise --limit, or use --json)`);
  } else if (!listAll && summary.batches > rows.length) {
    output.line(`--all lists all ${formatCount(summary.batches)} batches`);
  }
  if (table.errorsCut) renderErrors(output, shown);
  if (output.fitted) output.line(`batch ids are ${idPrefixOf(shown[0]!.batchId)}-<batch> (--wide shows them whole)`);
}

/** A batch id without its job's id prefix, which every row of one job shares: `s1-b12`. */
function shortBatchId(batchId: string): string {
  return batchId.slice(idPrefixOf(batchId).length + 1);
}

function idPrefixOf(batchId: string): string {
  return batchId.slice(0, batchId.indexOf('-'));
}

function batchTable(rows: BatchReportRow[], fitted: boolean, width: number): { text: string; errorsCut: boolean } {
  // Fitted, only the task statuses some row has: five count columns rarely fit 80 columns.
  const statuses = !fitted ? [...TASK_STATUSES] : TASK_STATUSES.filter((s) => rows.some((r) => r.counts[s] > 0));
  const columns: Column[] = [
    { header: 'batch' },
    { header: 'status' },
    { header: 'tasks', align: 'right', drop: 2 },
    ...statuses.map((s): Column => ({ header: s, align: 'right' })),
    { header: 'attempts', align: 'right', drop: 1 },
    { header: 'last error', flex: true },
  ];
  const table = formatTable(
    columns,
    rows.map((r) => [
      fitted ? shortBatchId(r.batchId) : r.batchId,
      r.status,
      formatCount(r.tasks),
      ...statuses.map((s) => formatCount(r.counts[s])),
      formatCount(r.attempts),
      oneLine(r.lastError ?? ''),
    ]),
    width,
  );
  const hasErrors = rows.some((r) => r.lastError);
  return { text: table.text, errorsCut: hasErrors && (table.cut || table.hidden.includes('last error')) };
}

/** Each distinct last error in full, once, with the batches that have it. */
function renderErrors(output: Output, rows: BatchReportRow[]): void {
  const byError = new Map<string, string[]>();
  for (const r of rows) {
    if (!r.lastError) continue;
    byError.set(r.lastError, [...(byError.get(r.lastError) ?? []), shortBatchId(r.batchId)]);
  }
  output.line('last errors in full:');
  for (const [error, batches] of byError) {
    const more = batches.length > 3 ? ` (+${formatCount(batches.length - 3)} more)` : '';
    output.line(`  ${batches.slice(0, 3).join(', ')}${more}: ${error}`);
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}
