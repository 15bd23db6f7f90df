import type { EndToEndResult } from '../../bench/end-to-end.js';
import { formatCount } from '../format.js';
import type { Output } from '../output.js';
import type { ProgressState } from '../progress.js';
import type { MachineInfo } from './bench.js';

/** The `--json` document of `geo bench --end-to-end`. */
export function endToEndJson(result: EndToEndResult, extras: { machine: MachineInfo; cleanup: { schema: string; schemaDropped: boolean } }) {
  return {
    mode: 'end-to-end',
    path: 'local',
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
    `end to end on local: hello_world n=${formatCount(doc.n)} (${formatCount(doc.tasks)} tasks over both stages), one worker, concurrency ${doc.concurrency}`,
  );
  doc.runs.forEach((r, i) => {
    output.line(
      `  run ${i + 1}: ${formatCount(r.tasksPerSecond)} tasks/s (submit ${(r.submitMs / 1000).toFixed(2)} s, work and advance ${(r.workMs / 1000).toFixed(2)} s)`,
    );
  });
  output.line(`  median ${formatCount(doc.medianTasksPerSecond)} tasks/s; ${doc.machine.cpus} CPUs, load average ${doc.machine.loadAverage}`);
  if (!doc.cleanup.schemaDropped) output.line(`  the bench schema ${doc.cleanup.schema} could not be dropped; the next bench removes it`);
}
