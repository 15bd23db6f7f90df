import type { JobList, JobListEntry, JobListQuery } from '../../core/job-list.js';
import { formatCount, formatDuration } from '../format.js';
import type { Output } from '../output.js';
import { type Column, formatTable } from '../table.js';
import { paragraph } from './paragraph.js';

/** The `--json` document of `geo jobs`. */
export function jobListJson(list: JobList) {
  return {
    jobs: list.jobs.map((j) => ({
      jobId: j.jobId,
      jobType: j.jobType,
      status: j.status,
      paused: j.pausedAt !== null,
      pausedAt: j.pausedAt?.toISOString() ?? null,
      transport: j.transport,
      createdAt: j.createdAt.toISOString(),
      completedAt: j.completedAt?.toISOString() ?? null,
      ageMs: j.ageMs,
      stageCount: j.stageCount,
      currentStage: j.current,
      finished: j.finished,
      expected: j.expected,
    })),
    more: list.more,
  };
}

// On a narrow terminal the transport goes first, then the age; the id, status and progress stay.
const COLUMNS: Column[] = [
  { header: 'job' },
  { header: 'type', flex: true },
  { header: 'status' },
  { header: 'stage' },
  { header: 'progress', align: 'right' },
  { header: 'transport', drop: 2 },
  { header: 'age', align: 'right', drop: 1 },
];

export function renderJobList(output: Output, list: JobList, query: JobListQuery): void {
  if (list.jobs.length === 0) {
    const filters = [query.status && `status ${query.status}`, query.type && `type ${query.type}`].filter(Boolean).join(' and ');
    output.line(filters ? `no jobs with ${filters}` : 'no jobs yet (geo submit creates one)');
    return;
  }
  const table = formatTable(
    COLUMNS,
    list.jobs.map((j) => [
      output.fitted ? j.jobId.slice(0, 12) : j.jobId,
      j.jobType,
      statusText(j),
      stageText(j),
      progressText(j),
      j.transport,
      formatDuration(j.ageMs),
    ]),
    output.width,
  );
  output.line(table.text);
  if (table.hidden.length > 0) paragraph(output, `(not shown at this width: ${table.hidden.join(', ')}; --wide or --json shows them)`);
  if (list.more) output.line(`... more jobs match: raise --limit (at most ${formatCount(1_000)}) or narrow with --status / --type`);
}

function statusText(j: JobListEntry): string {
  return j.pausedAt ? 'paused' : j.status;
}

function stageText(j: JobListEntry): string {
  return `${j.current.stage}/${j.stageCount}${j.current.name ? ` ${j.current.name}` : ''}`;
}

/** The current stage's finished tasks of its expected, and a percentage while it runs. */
function progressText(j: JobListEntry): string {
  const { completed, failed, expected, status } = j.current;
  if (status === 'pending') return '-';
  const done = completed + failed;
  const percent = expected > 0 && j.status === 'processing' ? ` ${Math.floor((done / expected) * 100)}%` : '';
  return `${formatCount(done)}/${formatCount(expected)}${percent}`;
}
