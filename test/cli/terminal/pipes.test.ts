import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { writePendingJob } from '../../support/submit.js';
import { BIN, REPO } from './pty.js';

let db: TestDatabase;
let env: Record<string, string>;
let jobId: string;
let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-pipes-'));
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-terminal-test-unused') };
  const submit = await runGeo(['submit', 'hello_world', '--n', '300000', '--param', 'name=pipes', '--json'], env);
  jobId = String(parseJsonOutput(submit).jobId);
  await writePendingJob(db.pool, { n: 5_000, name: 'pipes-pending' }, 'local');
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
  await db.drop();
});

interface Closed {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/**
 * Runs geo with its stdout (and optionally stderr) pipe already closed by
 * the reader, as `| head -1` does once it has its line: geo's first write
 * there fails with EPIPE.
 */
function runIntoClosedPipe(args: string[], opts: { closeStderr?: boolean } = {}): Promise<Closed> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
  child.stdout.destroy();
  let stderr = '';
  if (opts.closeStderr) child.stderr.destroy();
  else child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

describe('a reader that closes the pipe early', () => {
  it.each([
    ['batches', () => ['batches', jobId.slice(0, 12), '--all']],
    ['retry-pending --dry-run', () => ['retry-pending', '--dry-run']],
    ['bench', () => ['bench', '--path', 'local', '--n', '500', '--individual-n', '50']],
    ['batches --json', () => ['batches', jobId.slice(0, 12), '--json']],
  ])('%s: geo ends quietly with the exit code of its work, no stack', async (_name, args) => {
    const result = await runIntoClosedPipe(args());
    expect(result.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(result.stderr).toBe('');
    expect(result).toMatchObject({ code: 0, signal: null });
  });

  it('with stderr closed too, a failure still ends with its own exit code', async () => {
    const result = await runIntoClosedPipe(['batches', 'deadbeefdeadbeef'], { closeStderr: true });
    expect(result).toMatchObject({ code: 2, signal: null });
  });

  it('`geo batches --all | head -1` in a shell with pipefail: one line, geo exits 0, nothing on stderr', async () => {
    // 3,000 rows with whole ids: far more than a pipe holds, so geo writes after head has gone.
    const script = `set -o pipefail; node ${BIN} batches ${jobId.slice(0, 12)} --all --limit 100000 2>stderr.txt | head -1; echo "status $?"; cat stderr.txt`;
    const child = spawn('bash', ['-c', script], { cwd: dir, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    await new Promise((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    expect(out).toBe(`job ${jobId}\nstatus 0\n`);
  });
});
