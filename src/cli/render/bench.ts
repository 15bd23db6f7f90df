import type { EndToEndResult } from '../../bench/end-to-end.js';
import type { BenchProgress, BenchResult, ModeSummary } from '../../bench/run.js';
import { formatCount, plural } from '../format.js';
import type { Output } from '../output.js';
import type { ProgressState } from '../progress.js';
import { type Column, formatTable, type Row } from '../table.js';
import { paragraph } from './paragraph.js';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  platform: string;
  node: string;
  /** 1-minute load average when the bench started: other work on the machine skews the figures. */
  loadAverage: number;
}

export interface BenchDocumentExtras {
  machine: MachineInfo;
  latency: { dbMs: number; queueMs: number };
  cleanup: { schema: string; schemaDropped: boolean };
}

/** The `--json` document of `geo bench`: one entry per path, each mode's median run. */
export function benchJson(result: BenchResult, extras: BenchDocumentExtras) {
  return {
    machine: extras.machine,
    settings: {
      ...result.settings,
      dbLatencyMs: extras.latency.dbMs,
      queueLatencyMs: extras.latency.queueMs,
      report: 'median run by tasks/s',
    },
    paths: result.paths,
    failed: result.failed,
    cleanup: {
      ...extras.cleanup,
      messagesRemoved: result.paths.reduce((sum, p) => sum + p.messagesRemoved, 0),
    },
  };
}

export type BenchDocument = ReturnType<typeof benchJson>;

/** The progress bar's state: tasks done of the current path, mode and run. */
export function benchProgress(p: BenchProgress): ProgressState {
  const run = p.runs > 1 ? ` run ${p.run}/${p.runs}` : '';
  return { done: p.done, total: p.total, unit: 'tasks', label: `${p.path} ${p.mode}${run}` };
}

/** Columns in the order shown; `drop` ranks say which go first on a narrow terminal. */
const COLUMNS: Column[] = [
  { header: 'path' },
  { header: 'mode' },
  { header: 'tasks', align: 'right' },
  { header: 'total s', align: 'right', drop: 2 },
  { header: 'tasks/s', align: 'right' },
  { header: 'db s', align: 'right', drop: 4 },
  { header: 'queue s', align: 'right', drop: 3 },
  { header: 'p50 ms', align: 'right' },
  { header: 'p95 ms', align: 'right', drop: 1 },
  { header: 'max ms', align: 'right', drop: 5 },
  { header: 'failed', align: 'right' },
  { header: 'speedup', align: 'right' },
];

export function renderBench(output: Output, doc: BenchDocument): void {
  const s = doc.settings;
  const latency = s.dbLatencyMs + s.queueLatencyMs > 0 ? `, added round trip: database ${s.dbLatencyMs} ms, queue ${s.queueLatencyMs} ms` : '';
  paragraph(
    output,
    `geo bench: aligned ${plural(s.n, 'task')}, individual ${formatCount(Math.min(s.n, s.individualN))}, ` +
      `${plural(s.runs, 'run')}${s.runs > 1 ? ' (median shown)' : ''} per mode, concurrency ${s.concurrency}${latency}`,
  );
  const m = doc.machine;
  paragraph(output, `machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.platform}, node ${m.node}, load ${m.loadAverage} at start`);
  const rows: Row[] = [];
  for (const p of doc.paths) {
    if (p.skipped) {
      rows.push({ cells: [p.path], span: `skipped: ${p.skipped}` });
      continue;
    }
    for (const mode of ['individual', 'aligned'] as const) {
      const r = p[mode]!;
      const speedup = mode === 'aligned' && p.speedup !== undefined ? `${p.speedup.toFixed(1)}x` : '';
      rows.push([mode === 'individual' ? p.path : '', mode, ...row(r), speedup]);
    }
  }
  const table = formatTable(COLUMNS, rows, output.width);
  output.line(table.text);
  if (table.hidden.length > 0) paragraph(output, `(not shown at this width: ${table.hidden.join(', ')}; --wide or --json shows them)`);
  paragraph(output, 'latency: per batch from INSERT to recorded send (aligned), per task (individual); db s and queue s: summed call time');
  output.line(barChart(doc));
  for (const p of doc.paths) {
    for (const mode of ['individual', 'aligned'] as const) {
      if (p[mode]?.error) output.line(`${p.path} ${mode}: ${plural(p[mode]!.failedAllRuns, 'task')} not queued: ${p[mode]!.error}`);
    }
    if (p.queueCleanupError) output.line(`${p.path}: could not empty bench queue ${p.queue}: ${p.queueCleanupError}`);
  }
  const removed = doc.cleanup.messagesRemoved > 0 ? `, ${plural(doc.cleanup.messagesRemoved, 'message')} removed from the bench queues` : '';
  output.line(`bench data removed: schema ${doc.cleanup.schema} ${doc.cleanup.schemaDropped ? 'dropped' : 'NOT dropped'}${removed}`);
}

function row(r: ModeSummary): string[] {
  return [
    formatCount(r.tasks),
    (r.totalMs / 1000).toFixed(2),
    formatCount(Math.round(r.tasksPerSecond)),
    (r.dbMs / 1000).toFixed(2),
    (r.queueMs / 1000).toFixed(2),
    r.latencyMs.p50.toFixed(1),
    r.latencyMs.p95.toFixed(1),
    r.latencyMs.max.toFixed(1),
    formatCount(r.failed),
  ];
}

const BAR_WIDTH = 40;
const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** tasks/s as bars on a log scale (a 100x gap would leave the baseline invisible on a linear one). */
export function barChart(doc: Pick<BenchDocument, 'paths'>): string {
  const bars = doc.paths.flatMap((p) =>
    (['individual', 'aligned'] as const).flatMap((mode) => (p[mode] ? [{ path: p.path, mode, value: p[mode]!.tasksPerSecond }] : [])),
  );
  const positive = bars.map((b) => b.value).filter((v) => v > 0);
  if (positive.length === 0) return '';
  const lo = Math.floor(Math.log10(Math.min(...positive)));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...positive))));
  const lines = [`tasks/s, log scale (${formatCount(10 ** lo)} to ${formatCount(10 ** hi)})`];
  let lastPath = '';
  for (const b of bars) {
    const eighths = b.value > 0 ? Math.round(((Math.log10(b.value) - lo) / (hi - lo)) * BAR_WIDTH * 8) : 0;
    const bar = '█'.repeat(Math.floor(eighths / 8)) + EIGHTHS[eighths % 8];
    const label = `${(b.path === lastPath ? '' : b.path).padEnd(14)}${b.mode.padEnd(11)}`;
    lines.push(`${label}${bar.padEnd(BAR_WIDTH + 1)} ${formatCount(Math.round(b.value)).padStart(9)}`);
    lastPath = b.path;
  }
  return lines.join('\n');
}

/** The `--json` document of `geo bench --end-to-end`. */
export function endToEndJson(result: EndToEndResult, extras: { machine: MachineInfo; cleanup: { schema: string; schemaDropped: boolean } }) {
  return {
    mode: 'end-to-end',
    path: result.path,
    jobType: 'hello_world',
    n: result.settings.n,
    tasks: 2 * result.settings.n,
    concurrency: result.settings.concurrency,
    runs: result.runs,
    medianTasksPerSecond: result.medianTasksPerSecond,
    machine: extras.machine,
    cleanup: extras.cleanup,
  };
}

export function endToEndProgress(run: number, runs: number, completed: number, total: number): ProgressState {
  return { done: completed, total, unit: 'tasks', label: `end to end, run ${run}/${runs}` };
}

export function renderEndToEnd(output: Output, doc: ReturnType<typeof endToEndJson>): void {
  output.line(
    `end to end on ${doc.path}: hello_world n=${formatCount(doc.n)} (${formatCount(doc.tasks)} tasks over both stages), one worker, concurrency ${doc.concurrency}`,
  );
  doc.runs.forEach((r, i) => {
    output.line(
      `  run ${i + 1}: ${formatCount(r.tasksPerSecond)} tasks/s (submit ${(r.submitMs / 1000).toFixed(2)} s, work and advance ${(r.workMs / 1000).toFixed(2)} s)`,
    );
  });
  output.line(`  median ${formatCount(doc.medianTasksPerSecond)} tasks/s; ${doc.machine.cpus} CPUs, load average ${doc.machine.loadAverage}`);
  if (!doc.cleanup.schemaDropped) output.line(`  the bench schema ${doc.cleanup.schema} could not be dropped; the next bench removes it`);
}
