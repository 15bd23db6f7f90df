import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';

let db: TestDatabase;
let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-parallel-'));
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(dir, 'home') };
});
afterAll(async () => {
  await db.drop();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('checking a large input on worker threads', () => {
  it('finds the same items, rejections, duplicates and job id as checking on one thread', async () => {
    // About 7 MB (above the size where workers start), with trouble spread over the whole file:
    // bad lines, duplicates of lines far earlier, blank lines, an overlong line, CRLF endings, a BOM.
    const lines: string[] = [];
    for (let i = 0; i < 300_000; i++) {
      const x = i % 1000;
      const y = Math.floor(i / 1000);
      if (i % 50_000 === 7) lines.push('{"z":12,"x":');
      else if (i % 70_000 === 11) lines.push(JSON.stringify({ z: 12, x: 0, y: 0 }));
      else if (i % 90_000 === 13) lines.push('');
      else if (i === 200_001) lines.push(JSON.stringify({ z: 12, x, y, pad: 'p'.repeat(3 * 1024 * 1024) }));
      else lines.push(JSON.stringify({ z: 12, x, y }));
    }
    const input = path.join(dir, 'large.ndjson');
    await fs.writeFile(input, `\ufeff${lines.join('\r\n')}\r\n`);
    expect((await fs.stat(input)).size).toBeGreaterThan(4 * 1024 * 1024);

    const run = async (workers: string) => {
      const result = await runGeo(['submit', 'tiles', '--input', input, '--strict', '--json'], { ...env, GEO_INPUT_WORKERS: workers }, { timeoutMs: 120_000 });
      expect(result.code, result.stderr).toBe(2);
      const doc = parseJsonOutput<Record<string, unknown> & { input: Record<string, unknown> }>(result);
      delete doc.input.elapsedMs;
      return doc;
    };
    const oneThread = await run('0');
    const workers = await run('2');
    expect(workers).toEqual(oneThread);
    expect(oneThread.input).toMatchObject({ lines: 300_000, blankLines: 4, duplicates: 5, rejected: 6 + 5 + 1 });
    expect(oneThread.errors).toContainEqual({ line: 70_012, message: 'duplicates line 1 (task key tile-12-0-0); the first one is kept' });
    expect(oneThread.errors).toContainEqual({
      line: 200_002,
      message: expect.stringMatching(/^is 3,145,\d{3} bytes long, more than any local task message can carry/),
    });
  });
});
