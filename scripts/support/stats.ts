/** The middle value, or the lower middle for an even count: a value that was measured. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** `value` to `digits` decimals, for a JSON document. */
export function round(value: number, digits = 2): number {
  return Number(value.toFixed(digits));
}
