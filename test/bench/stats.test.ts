import { describe, expect, it } from 'vitest';
import { medianBy, percentile, ratePerSecond, summarizeLatencies } from '../../src/bench/stats.js';

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  it('p50, p95 and p100 of 1..100 are 50, 95 and 100', () => {
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 95)).toBe(95);
    expect(percentile(hundred, 100)).toBe(100);
  });

  it('is always a measured value, whatever the input order', () => {
    const values = [7, 1, 3, 9, 5];
    expect(percentile(values, 50)).toBe(5);
    expect(percentile(values, 95)).toBe(9);
    expect(percentile(values, 0)).toBe(1);
    expect(percentile([4, 8], 50)).toBe(4);
    expect(values).toEqual([7, 1, 3, 9, 5]);
  });

  it('of one value is that value; of none is NaN', () => {
    expect(percentile([42], 95)).toBe(42);
    expect(percentile([], 50)).toBeNaN();
  });

  it('rejects a percentile outside 0..100', () => {
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});

describe('summarizeLatencies', () => {
  it('reports samples, p50, p95 and max rounded to 0.01 ms', () => {
    const values = Array.from({ length: 20 }, (_, i) => (i + 1) * 1.0049);
    expect(summarizeLatencies(values)).toEqual({ samples: 20, p50: 10.05, p95: 19.09, max: 20.1 });
  });

  it('is all zeros for no samples', () => {
    expect(summarizeLatencies([])).toEqual({ samples: 0, p50: 0, p95: 0, max: 0 });
  });
});

describe('medianBy', () => {
  it('takes the middle item, or the lower middle of an even count', () => {
    const runs = [{ r: 30 }, { r: 10 }, { r: 20 }];
    expect(medianBy(runs, (x) => x.r)).toBe(runs[2]);
    expect(medianBy([{ r: 4 }, { r: 1 }, { r: 3 }, { r: 2 }], (x) => x.r)).toEqual({ r: 2 });
    expect(() => medianBy([], () => 0)).toThrow(RangeError);
  });
});

describe('ratePerSecond', () => {
  it('is items per second to one decimal, and 0 when no time passed', () => {
    expect(ratePerSecond(1000, 250)).toBe(4000);
    expect(ratePerSecond(1, 3)).toBe(333.3);
    expect(ratePerSecond(5, 0)).toBe(0);
  });
});
