import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { messageLimitFor } from '../../../src/core/input/limits.js';
import { type RejectedLine, scanInput } from '../../../src/core/input/scan.js';
import { openInput } from '../../../src/core/input/source.js';
import { tiles } from '../../../src/core/job-types/tiles.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-scan-'));
});
afterEach(() => fs.rm(dir, { recursive: true, force: true }));

async function scan(name: string, content: string) {
  const file = path.join(dir, name);
  await fs.writeFile(file, content);
  const rejected: RejectedLine[] = [];
  const spoolDir = path.join(dir, 'spool');
  await fs.mkdir(spoolDir);
  const result = await scanInput({
    source: await openInput({ given: file, stdin: process.stdin, cwd: dir }),
    jobType: tiles,
    params: {},
    limit: messageLimitFor('local'),
    onRejected: (line) => rejected.push(line),
    spoolDir,
  });
  return { result, rejected, spoolDir };
}

describe('scanInput', () => {
  it('reports every duplicate against its first line, far back or near, and hashes only the first ones', async () => {
    // 150,000 distinct tiles (a key log of several MB, mostly on disk by the end), then every
    // 101st of them again, oldest first, then the last few again: duplicates found through the log
    // file's window and through the block still in memory.
    const tile = (i: number) => ({ z: 12, x: i % 4096, y: Math.floor(i / 4096) });
    const lines = Array.from({ length: 150_000 }, (_, i) => JSON.stringify(tile(i)));
    const again = [...Array.from({ length: 150_000 / 101 }, (_, j) => j * 101), 149_999, 149_998];
    const { result, rejected, spoolDir } = await scan('tiles.ndjson', `${[...lines, ...again.map((i) => lines[i])].join('\n')}\n`);
    expect(result).toMatchObject({ lines: 150_000 + again.length, items: 150_000, duplicates: again.length, rejected: again.length });
    expect(rejected).toEqual(
      again.map((i, k) => ({ line: 150_001 + k, message: `duplicates line ${i + 1} (task key tile-12-${tile(i).x}-${tile(i).y}); the first one is kept` })),
    );
    const canonical = Array.from({ length: 150_000 }, (_, i) => `${JSON.stringify({ x: tile(i).x, y: tile(i).y, z: 12 })}\n`).join('');
    expect(result.sha256).toBe(crypto.createHash('sha256').update(canonical).digest('hex'));
    // The key log is gone once the pass ends; the spool stays for pass two, until disposed.
    const [folder] = await fs.readdir(spoolDir);
    expect(await fs.readdir(path.join(spoolDir, folder!))).toEqual(['items.ndjson']);
    await result.dispose();
    expect(await fs.readdir(spoolDir)).toEqual([]);
  });

  it('cuts duplicates out of a chunk and keeps the rest of it in order', async () => {
    const { result, rejected } = await scan(
      'small.ndjson',
      '{"z":1,"x":0,"y":0}\n{"z":1,"x":1,"y":0}\n{"y":0,"x":0,"z":1}\n\n{"z":1,"x":0,"y":1}\n{"z":1,"x":1,"y":0}\n',
    );
    expect(rejected.map((r) => r.line)).toEqual([3, 6]);
    const items: unknown[] = [];
    for await (const batch of result.spool.items()) items.push(...batch);
    expect(items).toEqual([
      { x: 0, y: 0, z: 1 },
      { x: 1, y: 0, z: 1 },
      { x: 0, y: 1, z: 1 },
    ]);
    expect(result).toMatchObject({ lines: 6, items: 3, blankLines: 1, duplicates: 2 });
    await result.dispose();
  });
});
