import type { ArchiveResult } from '../../core/archive.js';
import type { PruneResult } from '../../core/prune.js';
import { formatCount, formatSeconds, plural } from '../format.js';
import type { Output } from '../output.js';

/** The `--json` document of `geo archive`. */
export function archiveJson(r: ArchiveResult) {
  return { jobId: r.jobId, file: r.file, gzip: r.gzip, stages: r.stages, tasks: r.tasks, bytes: r.bytes, elapsedMs: Math.round(r.elapsedMs) };
}

export function renderArchive(output: Output, r: ArchiveResult): void {
  output.line(
    `archived job ${r.jobId}: ${plural(r.stages, 'stage')}, ${plural(r.tasks, 'task')} to ${r.file} (${formatBytes(r.bytes)}) in ${formatSeconds(r.elapsedMs)}`,
  );
}

/** The `--json` document of `geo prune`. */
export function pruneJson(r: PruneResult) {
  return {
    finishedBefore: r.cutoff.toISOString(),
    statuses: r.statuses,
    dryRun: r.dryRun,
    jobs: r.jobs.map((j) => ({
      jobId: j.jobId,
      jobType: j.jobType,
      status: j.status,
      finishedAt: j.finishedAt.toISOString(),
      outcome: j.outcome,
      reason: j.reason,
      tasks: j.tasks,
      batches: j.batches,
      resumed: j.resumed,
      archive: j.archive ? archiveJson(j.archive) : undefined,
    })),
    pruned: r.jobs.filter((j) => j.outcome === 'pruned').length,
    skipped: r.jobs.filter((j) => j.outcome === 'skipped').length,
    tasksDeleted: r.tasksDeleted,
    batchesDeleted: r.batchesDeleted,
    statements: r.statements,
    longestStatementMs: Math.round(r.longestStatementMs * 10) / 10,
    tableBytesBefore: r.sizesBefore,
    tableBytesAfter: r.sizesAfter,
    interrupted: r.interrupted,
    elapsedMs: Math.round(r.elapsedMs),
  };
}

const SKIPPED: Record<string, string> = {
  'pruned-by-another': 'another geo prune has it',
  'running-tasks': 'tasks of it are still running',
  'not-finished': 'it is running again (retry-failed)',
  'batches-held': 'another process held its last batches; the next prune finishes it',
  gone: 'it was gone already',
  interrupted: 'interrupted; the next prune finishes it',
};

export function renderPrune(output: Output, r: PruneResult): void {
  const cutoff = `finished before ${r.cutoff.toISOString()}`;
  if (r.jobs.length === 0) {
    output.line(`no ${r.statuses.join(', ')} jobs ${cutoff}`);
    return;
  }
  if (r.dryRun) {
    output.line(
      `would delete ${plural(r.jobs.length, 'job')} ${cutoff} (${plural(
        r.jobs.reduce((n, j) => n + j.tasks, 0),
        'task',
      )}):`,
    );
    for (const j of r.jobs) output.line(`  ${j.jobId}  ${j.jobType}  ${j.status} ${j.finishedAt.toISOString()}  ${plural(j.tasks, 'task')}`);
    return;
  }
  const pruned = r.jobs.filter((j) => j.outcome === 'pruned');
  output.line(
    `deleted ${plural(pruned.length, 'job')} ${cutoff}: ${plural(r.tasksDeleted, 'task')}, ${plural(r.batchesDeleted, 'batch', 'batches')} ` +
      `in ${formatSeconds(r.elapsedMs)} (${formatCount(r.statements)} statements, the longest ${r.longestStatementMs.toFixed(1)} ms)`,
  );
  const archived = pruned.filter((j) => j.archive);
  if (archived.length > 0) output.line(`  archived first: ${archived.map((j) => j.archive!.file).join(', ')}`);
  for (const j of r.jobs.filter((x) => x.outcome === 'skipped')) output.line(`  left ${j.jobId}: ${SKIPPED[j.reason ?? ''] ?? j.reason}`);
  output.line(
    `  tasks table ${formatBytes(r.sizesBefore.tasks)} before, ${formatBytes(r.sizesAfter.tasks)} after (space is reused by new rows; VACUUM returns it)`,
  );
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
