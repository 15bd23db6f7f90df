import { formatSeconds, plural } from '../format.js';
import type { Output } from '../output.js';

export interface ResultsSummary {
  jobId: string;
  stages: number[];
  status?: string;
  lines: number;
  output?: string;
  elapsedMs: number;
  interrupted: boolean;
}

/** `geo results --output FILE --json`: what was written. */
export function resultsJson(summary: ResultsSummary) {
  return {
    jobId: summary.jobId,
    stages: summary.stages,
    status: summary.status ?? null,
    lines: summary.lines,
    output: summary.output ?? null,
    elapsedMs: summary.elapsedMs,
    linesPerSecond: summary.elapsedMs > 0 ? Math.round((summary.lines / summary.elapsedMs) * 1000) : 0,
    interrupted: summary.interrupted,
  };
}

export function renderResultsSummary(output: Output, summary: ResultsSummary): void {
  const what = plural(summary.lines, 'result');
  if (summary.interrupted) {
    output.notice(`geo: interrupted after ${what}${summary.output ? `; ${summary.output} was not written` : ''}`);
    return;
  }
  output.line(`wrote ${what} to ${summary.output} in ${formatSeconds(summary.elapsedMs)}`);
}
