import { describe, expect, it } from 'vitest';
import { CanonicalJson, canonicalJsonOf } from '../../src/core/input/canonical.js';
import { KeySet } from '../../src/core/input/key-set.js';
import { canonicalJson } from '../../src/core/ids.js';

describe('KeySet', () => {
  it('remembers the first line of every key through many resizes', () => {
    const keys = new KeySet();
    const n = 300_000;
    const key = (i: number) => `tile-12-${i % 4096}-${Math.floor(i / 4096)}`;
    let wronglySeen = 0;
    for (let i = 0; i < n; i++) if (keys.add(key(i), i + 1) !== 0) wronglySeen++;
    expect(wronglySeen).toBe(0);
    expect(keys.count).toBe(n);
    const firstLines: number[] = [];
    for (let i = 0; i < n; i += 997) firstLines.push(keys.add(key(i), n + 1));
    expect(firstLines).toEqual(Array.from({ length: firstLines.length }, (_, j) => j * 997 + 1));
    expect(keys.count).toBe(n);
  });

  it('tells apart keys that differ only in length or in one character', () => {
    const keys = new KeySet();
    expect(keys.add('a', 1)).toBe(0);
    expect(keys.add('aa', 2)).toBe(0);
    expect(keys.add('ab', 3)).toBe(0);
    expect(keys.add('a', 4)).toBe(1);
    expect(keys.add('ab', 5)).toBe(3);
  });
});

describe('canonicalJsonOf', () => {
  it('writes the same text as the job-id canonical JSON for JSON values', () => {
    const values = [
      { z: 1, x: 2, y: 3 },
      { b: [{ d: 1, c: 2 }, 3, null], a: { y: 'é', x: true } },
      [{ b: 1, a: 2 }],
      'text',
      7,
      null,
      { a: undefined, b: 1 },
    ];
    for (const value of values) expect(canonicalJsonOf(value)).toBe(canonicalJson(value));
  });

  it('writes the same text from its remembered key order, whatever the sequence of shapes', () => {
    const writer = new CanonicalJson();
    const values: unknown[] = [
      { z: 1, x: 2, y: 3 },
      { z: 4, x: 5, y: 6 },
      { x: 7, y: 8, z: 9 },
      { z: 1, x: 'two', y: null },
      { z: 1, x: undefined, y: 3 },
      { z: 1, x: { b: 1, a: 2 }, y: 3 },
      { z: 1, x: [3, { d: 1, c: 0 }], y: 3 },
      { z: Number.NaN, x: -0, y: 1e21 },
      { z: true, x: false, y: 'é"\\' },
      {},
      [1, { b: 2, a: 1 }],
      'text',
    ];
    for (const value of values) expect(writer.of(value)).toBe(JSON.stringify(JSON.parse(canonicalJson(value))));
    // Unlike ids.ts's sorted copy, a value's own toJSON is honoured, as JSON.stringify does.
    expect(writer.of(new Date(0))).toBe('"1970-01-01T00:00:00.000Z"');
  });
});
