import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/core/ids.js';
import { CanonicalJson, canonicalJsonOf } from '../../../src/core/input/canonical.js';
import { KeySet } from '../../../src/core/input/key-set.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'geo-key-set-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Adds a key given as text: the first line it was seen on, or 0. */
function add(keys: KeySet, key: string, line: number): number {
  const bytes = Buffer.from(`..${key}..`, 'latin1');
  return keys.add(bytes, 2, bytes.length - 2, line);
}

describe('KeySet', () => {
  it('remembers the first line of every key through many resizes and log blocks written to disk', () => {
    const keys = new KeySet(path.join(dir, 'keys.log'));
    const n = 300_000;
    const key = (i: number) => `tile-12-${i % 4096}-${Math.floor(i / 4096)}`;
    let wronglySeen = 0;
    for (let i = 0; i < n; i++) if (add(keys, key(i), i + 1) !== 0) wronglySeen++;
    expect(wronglySeen).toBe(0);
    expect(keys.count).toBe(n);
    // About 24 bytes a record: several 1 MB blocks went to the file, so these are read back from it.
    expect(fs.statSync(path.join(dir, 'keys.log')).size).toBeGreaterThan(4 * 1024 * 1024);
    const firstLines: number[] = [];
    for (let i = 0; i < n; i += 997) firstLines.push(add(keys, key(i), n + 1));
    expect(firstLines).toEqual(Array.from({ length: firstLines.length }, (_, j) => j * 997 + 1));
    // Backwards, so that each lookup falls outside the window the one before read.
    const backwards: number[] = [];
    for (let i = n - 1; i >= 0; i -= 7919) backwards.push(add(keys, key(i), n + 2));
    expect(backwards).toEqual(Array.from({ length: backwards.length }, (_, j) => n - j * 7919));
    expect(keys.count).toBe(n);
    keys.close();
  });

  it('tells apart keys that differ only in length or in one character', () => {
    const keys = new KeySet(path.join(dir, 'keys.log'));
    expect(add(keys, 'a', 1)).toBe(0);
    expect(add(keys, 'aa', 2)).toBe(0);
    expect(add(keys, 'ab', 3)).toBe(0);
    expect(add(keys, 'a', 4)).toBe(1);
    expect(add(keys, 'ab', 5)).toBe(3);
    expect(add(keys, 'x'.repeat(255), 6)).toBe(0);
    expect(add(keys, 'x'.repeat(255), 7)).toBe(6);
    expect(add(keys, 'x'.repeat(254), 8)).toBe(0);
    keys.close();
  });

  it('tells apart two keys whose hashes are the same, by their bytes in the log', () => {
    // FNV-1a collides on these (found by search); the finaliser after it maps equal hashes to equal hashes.
    const keys = new KeySet(path.join(dir, 'keys.log'));
    expect(add(keys, 'kdqxeux', 1)).toBe(0);
    expect(add(keys, 'kyi6y5y', 2)).toBe(0);
    expect(add(keys, 'kyi6y5y', 3)).toBe(2);
    expect(add(keys, 'kdqxeux', 4)).toBe(1);
    expect(keys.count).toBe(2);
    keys.close();
  });

  it('keeps a table of under 9 bytes a key for the keys it was sized for', () => {
    const table = (expected: number) => {
      const keys = new KeySet(path.join(dir, `sized-${expected}.log`), expected);
      const bytes = keys.tableBytes;
      keys.close();
      return bytes;
    };
    expect(table(10_000_000) / 10_000_000).toBeLessThan(9);
    expect(table(0)).toBe(65_536 * 6);
  });
});

describe('canonicalJsonOf', () => {
  it('writes the same text as the job-id canonical JSON for JSON values', () => {
    const values = [{ z: 1, x: 2, y: 3 }, { b: [{ d: 1, c: 2 }, 3, null], a: { y: 'é', x: true } }, [{ b: 1, a: 2 }], 'text', 7, null, { a: undefined, b: 1 }];
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
