import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropIrrelevantWarnings } from '../../src/cli/warnings.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let env: Record<string, string>;
let home: string;
beforeAll(async () => {
  db = await createTestDatabase();
  home = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-words-'));
  env = { DATABASE_URL: db.url, GEO_HOME: home };
});
afterAll(async () => {
  await fs.rm(home, { recursive: true, force: true });
  await db.drop();
});

async function rowCount(): Promise<number> {
  const { rows } = await db.pool.query('SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM tasks) AS n');
  return Number(rows[0].n);
}

describe('words and numbers (subprocess)', () => {
  it('one of a thing is singular', async () => {
    const result = await runGeo(['submit', 'hello_world', '--n', '1', '--param', 'name=one'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('\n  1 task in 1 batch: 1 queued, 0 pending_queue, 0 failed\n');
    expect(result.stdout).toMatch(/\n {2}1 new task in [\d.]+s \([\d,]+ tasks\/s\)\n/);
    const jobId = /job ([0-9a-f]{64})/.exec(result.stdout)![1]!;
    expect((await runGeo(['batches', jobId.slice(0, 12)], env)).stdout).toContain('\n  1 batch (1 queued), 1 task:\n');
  });

  it('counts carry thousands separators', async () => {
    const submit = await runGeo(['submit', 'hello_world', '--n', '10000', '--param', 'name=thousands'], env);
    expect(submit.stdout).toContain('\n  10,000 tasks in 100 batches: 10,000 queued, 0 pending_queue, 0 failed\n');
    const jobId = /job ([0-9a-f]{64})/.exec(submit.stdout)![1]!;
    const batches = await runGeo(['batches', jobId.slice(0, 12)], env);
    expect(batches.stdout).toContain('\n  100 batches (100 queued), 10,000 tasks:\n  pending_queue 0, queued 10,000,');
    const early = await runGeo(['queue-stage', jobId.slice(0, 12), '2'], env);
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('(0 of 10,000 tasks finished)');
    const bounds = await runGeo(['batches', jobId.slice(0, 12), '--limit', '0'], env);
    expect(bounds.stderr).toBe('geo: --limit must be a whole number from 1 to 10,000,000 (got "0")\n');
  });

  it('help shows duration defaults as durations', async () => {
    const work = await runGeo(['work', '--help'], env);
    expect(work.stdout.replace(/\s+/g, ' ')).toContain('how long without tasks before --until-idle looks whether all is done (default: 3s)');
    expect(work.stdout.replace(/\s+/g, ' ')).toContain('how long tasks in flight may finish before they are given back (default: 30s)');
    const help = await runGeo(['retry-pending', '--help'], env);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('only batches created at least this long ago (90s, 5m, 2h) (default: 0s)');
    expect(help.stdout).not.toMatch(/default: 1800/);
  });

  it('running queue-stage again says "already queued", as submit says "already submitted"', async () => {
    const args = ['submit', 'hello_world', '--n', '300', '--param', 'name=again'];
    const jobId = String(parseJsonOutput(await runGeo([...args, '--json'], env)).jobId);
    expect((await runGeo(args, env)).stdout).toContain('  hello_world stage 1 (greeting) already submitted via local\n');
    const again = await runGeo(['queue-stage', jobId.slice(0, 12), '1'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('  hello_world stage 1 (greeting) already queued via local\n');
    expect(again.stdout).toContain('  0 new tasks in ');
  });

  it.each([
    [['submit', 'hello_world', '--n', '5', '--param', 'name=enc', '--message-encoding', 'text'], '--message-encoding'],
    [['submit', 'hello_world', '--n', '5', '--param', 'name=enc', '--create-queue'], '--create-queue'],
  ])('%j on the local transport is refused, exit 2, nothing written', async (args, flag) => {
    const before = await rowCount();
    const result = await runGeo(args, env);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`geo: ${flag}: for the storage-queue transport only (this run uses local)\n`);
    expect(await rowCount()).toBe(before);
  });

  it('geo db status with DATABASE_URL set says the embedded server is not in use', async () => {
    const result = await runGeo(['db', 'status'], env);
    expect(result.code).toBe(0);
    const url = new URL(db.url);
    expect(result.stderr).toBe(
      `geo: DATABASE_URL is set, so geo uses PostgreSQL at ${url.hostname}:${url.port}${url.pathname}; the embedded server below is not in use\n`,
    );
    expect(result.stderr).not.toContain(decodeURIComponent(url.password));
    const { DATABASE_URL: _unset, ...embedded } = env;
    expect((await runGeo(['db', 'status'], embedded)).stderr).toBe('');
  });

  it('an IP-address Service Bus endpoint prints no DEP0123 TLS warning', async () => {
    const result = await runGeo(['submit', 'hello_world', '--n', '5', '--param', 'name=tls'], {
      ...env,
      GEO_TRANSPORT: 'servicebus',
      // TLS (no UseDevelopmentEmulator) to an address where nothing listens.
      GEO_SERVICEBUS_CONNECTION_STRING: 'Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=k;SharedAccessKey=v',
      GEO_SERVICEBUS_TIMEOUT_MS: '2000',
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^geo: cannot use Service Bus queue geo-tasks in namespace 127\.0\.0\.1:1: .*ECONNREFUSED/);
    expect(result.stderr).not.toMatch(/DEP0123|DeprecationWarning/);
  });
});

describe('the warning filter', () => {
  it('drops DEP0123 only; other warnings are emitted as before', async () => {
    const seen: string[] = [];
    const onWarning = (w: Error & { code?: string }) => seen.push(w.code ?? w.name);
    process.on('warning', onWarning);
    const restore = dropIrrelevantWarnings();
    try {
      process.emitWarning('TLS ServerName to an IP address', 'DeprecationWarning', 'DEP0123');
      process.emitWarning('TLS ServerName to an IP address', { type: 'DeprecationWarning', code: 'DEP0123' });
      process.emitWarning('something else', { type: 'DeprecationWarning', code: 'DEP0999' });
      process.emitWarning('plain');
      await new Promise((r) => setImmediate(r));
    } finally {
      restore();
      process.off('warning', onWarning);
    }
    expect(seen).toEqual(['DEP0999', 'Warning']);
  });
});
