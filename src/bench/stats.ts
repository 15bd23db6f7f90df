/** p50 / p95 / max of a set of latencies, in milliseconds. */
export interface LatencySummary {
  samples: number;
  p50: number;
  p95: number;
  max: number;
}

/**
 * The nearest-rank percentile of `values` (p from 0 to 100): the smallest
 * value with at least p% of the values at or below it. Always one of the
 * measured values, never an interpolation between two, so a p95 of 40 ms
 * means a batch really took 40 ms. NaN for no values.
 */
export function percentile(values: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be between 0 and 100 (got ${p})`);
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** p50, p95 and max of `values`; zeros when there are none. */
export function summarizeLatencies(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { samples: 0, p50: 0, p95: 0, max: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    max: round(sorted[sorted.length - 1]!),
  };
}

/**
 * The median item by `key`: the middle one, or the lower middle for an even
 * count. An item that was really measured (not an average of two runs), so
 * its other figures stay consistent with each other.
 */
export function medianBy<T>(items: readonly T[], key: (item: T) => number): T {
  if (items.length === 0) throw new RangeError('median of no items');
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** Items per second; 0 when no time passed or nothing was done. */
export function ratePerSecond(count: number, elapsedMs: number): number {
  return elapsedMs > 0 ? Math.round((count / elapsedMs) * 1000 * 10) / 10 : 0;
}

/** Milliseconds to two decimals: finer than timer precision, enough for a table. */
export function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
