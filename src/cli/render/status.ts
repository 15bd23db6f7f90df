import type { JobStatusReport } from '../../core/job-status.js';
import { formatCount, formatDuration } from '../format.js';
import type { Output } from '../output.js';
import { type Column, formatTable } from '../table.js';
import { paragraph } from './paragraph.js';

// On a narrow terminal what goes first is what the headline or the other columns already
// tell; stage, status, completed and failed stay (36 columns).
const COLUMNS: Column[] = [
  { header: 'stage' },
  { header: 'name', flex: true },
  { header: 'status' },
  { header: 'expected', align: 'right', drop: 5 },
  { header: 'pending', align: 'right', drop: 7 },
  { header: 'queued', align: 'right', drop: 4 },
  { header: 'processing', align: 'right', drop: 3 },
  { header: 'completed', align: 'right' },
  { header: 'failed', align: 'right' },
  { header: 'cancelled', align: 'right', drop: 8 },
  { header: 'retried', align: 'right', drop: 9 },
  { header: 'tasks/s', align: 'right', drop: 6 },
];

/** The status for people: a headline, one row per stage, the first errors, the result once there is one. */
export function renderJobStatus(output: Output, report: JobStatusReport): void {
  output.line(`job ${report.jobId}`);
  paragraph(
    output,
    `  ${report.jobType} via ${report.transport}: ${report.status}${report.pausedAt ? ` (paused since ${report.pausedAt.toISOString()})` : ''}` +
      `${report.cancelReason ? ` (${report.cancelReason})` : ''}, stage ${report.currentStage} of ${report.stages.length}, ` +
      `${formatDuration(report.elapsedMs)}, ${formatCount(report.tasksPerSecond)} tasks/s`,
    '    ',
  );
  // `cancelled` and `retried` only for a job that has some: most never do.
  const anyCancelled = report.stages.some((s) => s.cancelled > 0);
  const anyRetried = report.stages.some((s) => s.retried > 0);
  const columns = COLUMNS.filter((c) => (c.header !== 'cancelled' || anyCancelled) && (c.header !== 'retried' || anyRetried));
  const rows = report.stages.map((s) => [
    String(s.stage),
    s.name ?? '-',
    s.status,
    formatCount(s.expected),
    formatCount(s.pendingQueue),
    formatCount(s.queued),
    formatCount(s.processing),
    formatCount(s.completed),
    formatCount(s.failed),
    ...(anyCancelled ? [formatCount(s.cancelled)] : []),
    ...(anyRetried ? [formatCount(s.retried)] : []),
    formatCount(s.tasksPerSecond),
  ]);
  const table = formatTable(columns, rows, output.width);
  output.line(table.text);
  if (table.hidden.length > 0) paragraph(output, `(not shown at this width: ${table.hidden.join(', ')}; --wide or --json shows them)`);
  for (const s of report.stages.filter((st) => st.retried > 0)) {
    paragraph(
      output,
      `stage ${s.stage}: ${formatCount(s.retried)} ${s.retried === 1 ? 'task' : 'tasks'} run again by retry-failed (geo results shows ${s.retried === 1 ? 'its' : 'their'} earlier runs)`,
    );
  }
  if (report.errors.length > 0) {
    output.line('first errors:');
    for (const e of report.errors) paragraph(output, `  ${e.taskId}: ${e.error ?? '(no message)'}`, '    ');
  }
  if (report.status === 'completed' && report.result !== null && report.result !== undefined) {
    paragraph(output, `result: ${JSON.stringify(report.result)}`);
  }
}
