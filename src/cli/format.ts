import cliTruncate from 'cli-truncate';
import stringWidth from 'string-width';
import wrapAnsi from 'wrap-ansi';

export { formatCount, plural } from '../words.js';

const EXACT_UNITS: Array<[string, number]> = [
  ['d', 86_400],
  ['h', 3_600],
  ['m', 60],
];

/**
 * A number of seconds as the duration options accept it, exactly: 1800 is
 * "30m", 90 is "90s", 0 is "0s". Help texts show defaults so.
 */
export function formatDurationOption(seconds: number): string {
  for (const [unit, size] of EXACT_UNITS) {
    if (seconds > 0 && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

/** An approximate duration for people: "45s", "3m 05s", "2h 07m". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  if (total < 60) return `${total}s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes}m ${String(total % 60).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** Seconds with two decimals, for elapsed times in summaries. */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

/** The columns `text` takes on a terminal: a wide character (CJK, most emoji) takes two, a combining mark none. */
export function textWidth(text: string): number {
  return stringWidth(text);
}

/** `text` cut to at most `width` columns, the last one an ellipsis when something was cut. */
export function fitText(text: string, width: number): string {
  if (width <= 0) return '';
  return cliTruncate(text, width);
}

/**
 * `text` as lines of at most `width` columns, broken at spaces; only a word
 * longer than a whole line is broken inside. The first line keeps the text's
 * leading spaces. `width` Infinity or below 1: one line, unchanged (a file, a
 * pipe, --wide).
 */
export function wrapText(text: string, width: number): string[] {
  if (!Number.isFinite(width) || width < 1 || textWidth(text) <= width) return [text];
  const lead = /^ */.exec(text)![0];
  const lines = wrapAnsi(text.slice(lead.length), Math.max(1, width - lead.length), { hard: true, trim: true }).split('\n');
  return lines.map((line, i) => (i === 0 ? `${lead}${line}` : line));
}
