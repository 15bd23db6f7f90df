import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CHECKED, ItemChecker, isPlainTaskKey } from '../../../src/core/input/checker.js';
import { messageLimitFor } from '../../../src/core/input/limits.js';
import type { LineChunk } from '../../../src/core/input/lines.js';
import { ItemSpool } from '../../../src/core/input/spool.js';
import { defineJobType } from '../../../src/core/job-types/define.js';
import { TASK_KEY } from '../../../src/core/job-types/task-key.js';

const notes = defineJobType({
  name: 'notes',
  items: { schema: z.object({ id: z.string(), text: z.string() }), key: (n: { id: string }) => n.id },
  stages: [{ from: 'items', name: 'note', handler: () => null }],
});

function chunk(lines: string[], firstLine = 1): LineChunk {
  return { bytes: new Uint8Array(Buffer.from(lines.map((l) => `${l}\n`).join(''))), firstLine, count: lines.length, overlong: [] };
}

describe('isPlainTaskKey', () => {
  it('says yes only to keys the task-key rule accepts, and to every such key', () => {
    const samples: string[] = ['', 'a'.repeat(100), 'a'.repeat(101), 'tile-12-3-4', 'é', 'aé', 'a\u{1f600}', 'a b', 'a/b'];
    for (let c = 0; c < 256; c++) {
      const ch = String.fromCharCode(c);
      samples.push(ch, `a${ch}`, `${ch}a`, `a${ch}b`);
    }
    for (const key of samples) expect(isPlainTaskKey(key), JSON.stringify(key)).toBe(TASK_KEY.test(key));
    expect(isPlainTaskKey(7)).toBe(false);
    expect(isPlainTaskKey(undefined)).toBe(false);
  });
});

describe('ItemChecker.checkChunk', () => {
  const checker = new ItemChecker({ jobType: notes, params: {}, format: 'ndjson', label: 'notes.ndjson', limit: messageLimitFor('storage-queue') });

  it('writes keys and canonical JSON as UTF-8, whatever characters the items hold', () => {
    const items = [
      { text: 'café', id: 'a' },
      { id: 'b', text: 'plain' },
      { text: '\u{1f30d} and "quotes" and \\', id: 'c' },
      { id: 'd', text: 'line\nbreak' },
    ];
    const checked = checker.checkChunk(chunk(items.map((i) => JSON.stringify(i))));
    expect([...checked.kinds]).toEqual([CHECKED.item, CHECKED.item, CHECKED.item, CHECKED.item]);
    expect(Buffer.from(checked.keys).toString('latin1')).toBe('a\nb\nc\nd\n');
    const expected = items.map((i) => JSON.stringify({ id: i.id, text: i.text })).join('\n');
    expect(Buffer.from(checked.items).toString('utf8')).toBe(`${expected}\n`);
  });

  it('gives blank lines, bad keys, bad items and items too large for the transport each their outcome', () => {
    const big = 'x'.repeat(70 * 1024);
    const checked = checker.checkChunk(
      chunk(['  ', '{"id":"a b","text":"t"}', '{"id":"ok","text":"t"}', '{"id":1}', `{"id":"big","text":"${big}"}`, '\t'], 10),
    );
    expect([...checked.kinds]).toEqual([CHECKED.blank, CHECKED.error, CHECKED.item, CHECKED.error, CHECKED.error, CHECKED.blank]);
    expect(checked.errors).toEqual([
      [1, expect.stringMatching(/^task key "a b" is not valid \(letters, digits/)],
      [3, 'id: must be text (got 1); text: is required'],
      [4, expect.stringMatching(/^makes a task message of 95,9\d\d bytes; the storage-queue transport carries at most 65,536$/)],
    ]);
    expect(Buffer.from(checked.items).toString()).toBe('{"id":"ok","text":"t"}\n');
  });

  it('counts the message size in UTF-8 bytes when characters could make it too large', () => {
    // 20,000 three-byte characters: 60,000 bytes of JSON, 80,000 once base64-encoded for Storage Queue.
    const wide = '\u20ac'.repeat(20_000);
    const checked = checker.checkChunk(chunk([JSON.stringify({ id: 'w', text: wide }), JSON.stringify({ id: 'n', text: 'e'.repeat(20_000) })]));
    expect([...checked.kinds]).toEqual([CHECKED.error, CHECKED.item]);
    expect(checked.errors[0]![1]).toMatch(/^makes a task message of 80,\d{3} bytes; the storage-queue transport carries at most 65,536$/);
  });
});

describe('ItemSpool', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-spool-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('hashes exactly what it writes and reads every item back in order, in batches of at most 100', async () => {
    const spool = await ItemSpool.create(dir);
    // Long and multi-byte items, so reads of 64 KiB end inside items and inside characters.
    const items = Array.from({ length: 3000 }, (_, i) => ({ i, text: `${'\u20ac'.repeat(i % 97)}${'x'.repeat((i * 37) % 300)}` }));
    const text = items.map((i) => `${JSON.stringify(i)}\n`).join('');
    for (let at = 0; at < items.length; at += 7)
      spool.add(
        Buffer.from(
          items
            .slice(at, at + 7)
            .map((i) => `${JSON.stringify(i)}\n`)
            .join(''),
        ),
      );
    spool.add(new Uint8Array(0));
    const sha256 = await spool.finish();
    expect(sha256).toBe(crypto.createHash('sha256').update(text).digest('hex'));
    const back: unknown[] = [];
    let largest = 0;
    for await (const batch of spool.items()) {
      largest = Math.max(largest, batch.length);
      back.push(...batch);
    }
    expect(back).toEqual(items);
    expect(largest).toBe(100);
    await spool.remove();
    await expect(fs.stat(spool.folder)).rejects.toThrow(/ENOENT/);
  });
});
