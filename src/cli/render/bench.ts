import Table from 'cli-table3';
import type { BenchProgress, BenchResult, ModeSummary } from '../../bench/run.js';
import { formatCount, type Output } from '../output.js';

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

export function progressText(p: BenchProgress): string {
  const run = p.runs > 1 ? ` run ${p.run}/${p.runs}` : '';
  return `${p.path} ${p.mode}${run}: ${formatCount(p.done)} / ${formatCount(p.total)} tasks`;
}

export function renderBench(output: Output, doc: BenchDocument): void {
  const s = doc.settings;
  const latency =
    s.dbLatencyMs + s.queueLatencyMs > 0 ? `, added round trip: database ${s.dbLatencyMs} ms, queue ${s.queueLatencyMs} ms` : '';
  output.line(
    `geo bench: aligned ${formatCount(s.n)} tasks, individual ${formatCount(Math.min(s.n, s.individualN))}, ` +
      `${s.runs} run${s.runs > 1 ? 's (median shown)' : ''} per mode, concurrency ${s.concurrency}${latency}`,
  );
  const m = doc.machine;
  output.line(`machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.platform}, node ${m.node}, load ${m.loadAverage} at start`);
  const table = new Table({
    head: ['path', 'mode', 'tasks', 'total s', 'tasks/s', 'db s', 'queue s', 'p50 ms', 'p95 ms', 'max ms', 'failed', 'speedup'],
    style: { head: [], border: [] },
    // No rule between rows: a path's two modes read as one block.
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  });
  for (const p of doc.paths) {
    if (p.skipped) {
      table.push([p.path, { colSpan: 11, content: `skipped: ${p.skipped}` }]);
      continue;
    }
    for (const mode of ['individual', 'aligned'] as const) {
      const r = p[mode]!;
      const speedup = mode === 'aligned' && p.speedup !== undefined ? `${p.speedup.toFixed(1)}x` : '';
      table.push([mode === 'individual' ? p.path : '', mode, ...row(r), speedup]);
    }
  }
  output.line(table.toString());
  output.line('latency: per batch from INSERT to recorded send (aligned), per task (individual); db s and queue s: summed call time');
  output.line(barChart(doc));
  for (const p of doc.paths) {
    for (const mode of ['individual', 'aligned'] as const) {
      if (p[mode]?.error) output.line(`${p.path} ${mode}: ${p[mode]!.failedAllRuns} tasks not queued: ${p[mode]!.error}`);
    }
    if (p.queueCleanupError) output.line(`${p.path}: could not empty bench queue ${p.queue}: ${p.queueCleanupError}`);
  }
  const removed =
    doc.cleanup.messagesRemoved > 0 ? `, ${formatCount(doc.cleanup.messagesRemoved)} messages removed from the bench queues` : '';
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
