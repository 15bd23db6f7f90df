import { medianBy } from '../../src/bench/stats.js';

/** The middle value, or the lower middle for an even count: a value that was measured. */
export function median(values: readonly number[]): number {
  return medianBy(values, (v) => v);
}

/** `value` to `digits` decimals, for a JSON document. */
export function round(value: number, digits = 2): number {
  return Number(value.toFixed(digits));
}
