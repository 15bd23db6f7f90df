import ora from 'ora';
import { fitText, formatCount, formatDuration, textWidth } from './format.js';
import { type Screen, SpinnerStream } from './terminal.js';

/** Where a long command is, as its progress display shows it. */
export interface ProgressState {
  done: number;
  /** Unknown (a sweep that finds its work as it goes): no bar and no ETA. */
  total?: number;
  /** What `done` counts: "tasks", "batches". */
  unit: string;
  /** Words in front: the phase ("local aligned run 2/3"). */
  label?: string;
  /** Words after the figures ("12 pending, 0 failed"). */
  note?: string;
}

/** A progress display: `update` as often as you like, `stop` before printing the summary. */
export interface Progress {
  update(state: ProgressState): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update() {}, stop() {} };
/** How often the line is redrawn (ora's interval): the spinner turns and new figures show. */
const REDRAW_MS = 100;
/** Rate and ETA come from the last few seconds, so a rate that changes shows soon. */
const RATE_WINDOW_MS = 5_000;
const MIN_BAR = 10;

/**
 * A spinner with done / total, a bar, rate and ETA on stderr (ora), drawn only
 * when stderr is a terminal with a known width; elsewhere (a pipe, a file, a
 * width-0 pseudo-terminal, TERM=dumb) it does nothing at all. One reusable
 * display for every long command (submit, queue-stage, retry-pending, bench,
 * results). ora is told not to touch stdin (`discardStdin: false`: its raw
 * mode would turn Ctrl-C into a byte instead of SIGINT) and not to hide the
 * cursor (geo ends a Ctrl-C by re-raising the signal, which skips the exit
 * hook that would show it again).
 */
export function startProgress(screen: Screen, first: ProgressState, clock: () => number = Date.now): Progress {
  if (!screen.stderr.interactive) return NO_PROGRESS;
  const samples: Array<{ at: number; done: number }> = [];
  const spinner = ora({
    stream: new SpinnerStream(screen.stderr) as unknown as NodeJS.WriteStream,
    isEnabled: true,
    discardStdin: false,
    hideCursor: false,
    interval: REDRAW_MS,
  });
  // The spinner's frame and the space after it come before the text.
  const frameWidth = textWidth(spinner.spinner.frames[0] ?? '') + 1;
  let state = first;
  const fit = () => {
    spinner.text = progressLine(state, rateOf(samples), screen.stderr.columns - frameWidth);
  };
  fit();
  screen.attach(spinner);
  spinner.start();
  return {
    update(next) {
      const now = clock();
      if (state.label !== next.label) samples.length = 0;
      state = next;
      samples.push({ at: now, done: next.done });
      while (samples.length > 2 && samples[0]!.at < now - RATE_WINDOW_MS) samples.shift();
      fit();
    },
    stop() {
      screen.detach(spinner);
    },
  };
}

/** Units per second over the samples kept, or undefined before there are two. */
export function rateOf(samples: ReadonlyArray<{ at: number; done: number }>): number | undefined {
  if (samples.length < 2) return undefined;
  const first = samples[0]!;
  const last = samples[samples.length - 1]!;
  const seconds = (last.at - first.at) / 1000;
  return seconds > 0 ? (last.done - first.done) / seconds : undefined;
}

/**
 * One line, never wider than `columns - 1` (so it never wraps):
 * `label [█████░░░░░]  48%  1,440,000 / 3,000,000 tasks  142,385/s  ETA 11s  note`.
 * The bar takes what the words leave, and goes when less than 10 columns are left.
 */
export function progressLine(state: ProgressState, rate: number | undefined, columns: number): string {
  const { done, total, unit } = state;
  // Padded to their widest, so the bar keeps its length while the figures change.
  const counts =
    total === undefined ? `${formatCount(done)} ${unit}` : `${formatCount(done).padStart(formatCount(total).length)} / ${formatCount(total)} ${unit}`;
  const parts = [counts, (rate === undefined ? '' : `${formatCount(rate)}/s`).padStart(9)];
  if (total !== undefined) {
    const eta = rate !== undefined && rate > 0 && total > done ? `ETA ${formatDuration(((total - done) / rate) * 1000)}` : '';
    parts.push(eta.padEnd(10));
  }
  if (state.note) parts.push(state.note);
  const words = parts.join('  ').trimEnd();
  const label = state.label ? `${state.label} ` : '';
  const max = Math.max(0, columns - 1);
  if (total !== undefined && total > 0) {
    const fraction = Math.min(1, done / total);
    const percent = `${String(Math.floor(fraction * 100)).padStart(3)}%`;
    const barWidth = max - textWidth(label) - percent.length - textWidth(words) - 5;
    if (barWidth >= MIN_BAR) {
      const filled = Math.round(fraction * barWidth);
      return `${label}[${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}] ${percent}  ${words}`;
    }
    return fitText(`${label}${percent}  ${words}`, max);
  }
  return fitText(`${label}${words}`, max);
}
