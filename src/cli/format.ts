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

/** `text` cut to at most `width` characters, the last one an ellipsis when something was cut. */
export function fitText(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}
