import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-cli-test-unused') };
});
afterAll(async () => {
  await db.drop();
});

async function jobCount(): Promise<number> {
  const { rows } = await db.pool.query('SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM tasks) AS n');
  return rows[0].n;
}

describe('geo submit (subprocess)', () => {
  it('prints the contract JSON and exits 0 when every task is queued', async () => {
    const result = await runGeo(['submit', 'hello_world', '--n', '1000', '--param', 'name=cli', '--json'], env);
    expect(result.code).toBe(0);
    const doc = parseJsonOutput(result);
    expect(doc).toMatchObject({
      jobType: 'hello_world',
      stage: 1,
      transport: 'local',
      tasks: 1000,
      batches: 10,
      queued: 1000,
      pendingQueue: 0,
      failed: 0,
    });
    expect(doc.jobId).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof doc.elapsedMs).toBe('number');
    expect(typeof doc.tasksPerSecond).toBe('number');

    const batches = await runGeo(['batches', String(doc.jobId).slice(0, 8), '--json'], env);
    expect(batches.code).toBe(0);
    const report = parseJsonOutput<{ jobId: string; batches: Array<Record<string, unknown>> }>(batches);
    expect(report.jobId).toBe(doc.jobId);
    expect(report.batches).toHaveLength(10);
    expect(report.batches[0]).toEqual({
      batchId: `${String(doc.jobId).slice(0, 16)}-s1-b0`,
      stage: 1,
      tasks: 100,
      status: 'queued',
      counts: { pending_queue: 0, queued: 100, processing: 0, completed: 0, failed: 0, cancelled: 0 },
      attempts: 1,
      lastError: null,
    });
  });

  it('prints a human summary and the batches table without --json', async () => {
    const submit = await runGeo(['submit', 'hello_world', '--n', '250', '--param', 'name=human'], env);
    expect(submit.code).toBe(0);
    expect(submit.stdout).toMatch(/250 tasks in 3 batches: 250 queued, 0 pending_queue, 0 failed/);
    const jobId = /job ([0-9a-f]{64})/.exec(submit.stdout)![1]!;
    const all = await runGeo(['batches', jobId, '--all'], env);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/3 batches \(3 queued\), 250 tasks/);
    expect(all.stdout).toContain(`${jobId.slice(0, 16)}-s1-b2`);
    const problems = await runGeo(['batches', jobId], env);
    expect(problems.stdout).toMatch(/no problem batches \(--all lists all 3\)/);
  });

  it('refuses stage 2 before stage 1 completed with exit 2', async () => {
    const submit = parseJsonOutput(await runGeo(['submit', 'hello_world', '--n', '5', '--param', 'name=qs', '--json'], env));
    const result = await runGeo(['queue-stage', String(submit.jobId), '2'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/stage 1 is not complete/);
  });
});

describe('bad input (subprocess): one-line error, exit 2, nothing written', () => {
  it.each([
    [['submit', 'nope', '--n', '5'], /unknown job type "nope"; known job types: hello_world/],
    [['submit', 'hello_world'], /n: is required/],
    [['submit', 'hello_world', '--n', '0'], /n: must be at least 1/],
    [['submit', 'hello_world', '--n', '-5'], /n: must be at least 1/],
    [['submit', 'hello_world', '--n', '2.5'], /n: must be a whole number/],
    [['submit', 'hello_world', '--n', 'many'], /n: must be a number/],
    [['submit', 'hello_world', '--n', '10000001'], /n: must be at most 10,000,000/],
    [['submit', 'hello_world', '--n', '99999999999999999999'], /^geo: hello_world: n: must be at most 10,000,000\n$/],
    [['submit', 'hello_world', '--n', '5', '--param', 'colour=red'], /unknown parameter "colour"/],
    [['submit', 'hello_world', '--n', '5', '--param', 'oops'], /--param takes key=value/],
    [['submit', 'hello_world', '--n', '5', '--batch-size', '101'], /--batch-size must be a whole number from 1 to 100/],
    [['submit', 'hello_world', '--n', '5', '--transport', 'kafka'], /^geo: --transport: unknown transport "kafka": use local, servicebus or storage-queue\n$/],
    // A job type without items given --input: that, not a parameter the file was meant to replace.
    [['submit', 'hello_world', '--input', 'items.ndjson'], /^geo: hello_world takes no input items; --input is for job types built from items/],
  ])('%j', async (args, message) => {
    const before = await jobCount();
    const result = await runGeo(args, env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await jobCount()).toBe(before);
  });

  it('a malformed DATABASE_URL is exit 2 naming the variable', async () => {
    const result = await runGeo(['submit', 'hello_world', '--n', '5'], { ...env, DATABASE_URL: 'localhost:5432' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/DATABASE_URL: must be a postgres/);
  });

  it('an unknown transport names where it came from and lists the transports, in one line', async () => {
    const result = await runGeo(['submit', 'hello_world', '--n', '5'], { ...env, GEO_TRANSPORT: 'bogus' });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('geo: GEO_TRANSPORT: unknown transport "bogus": use local, servicebus or storage-queue\n');
  });

  it('an unknown job id is exit 2', async () => {
    const result = await runGeo(['batches', 'deadbeefdeadbeef'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no job deadbeefdeadbeef/);
  });

  it('--json errors are one JSON document on stdout too', async () => {
    const result = await runGeo(['submit', 'hello_world', '--n', '0', '--json'], env);
    expect(result.code).toBe(2);
    expect(parseJsonOutput(result)).toEqual({ error: { code: 'INVALID_PARAMS', message: 'hello_world: n: must be at least 1' } });
  });
});

describe('an unreachable database (subprocess)', () => {
  it('exits 3 naming host and port, never the password', async () => {
    const result = await runGeo(['submit', 'hello_world', '--n', '5'], {
      ...env,
      DATABASE_URL: 'postgresql://geo:Sup3rSecretPw@127.0.0.1:1/geo',
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/cannot reach PostgreSQL at 127\.0\.0\.1:1\/geo/);
    expect(result.stderr + result.stdout).not.toContain('Sup3rSecretPw');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('shows the stack only with --verbose', async () => {
    const result = await runGeo(['--verbose', 'submit', 'hello_world', '--n', '5'], {
      ...env,
      DATABASE_URL: 'postgresql://geo:Sup3rSecretPw@127.0.0.1:1/geo',
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/\n\s+at /);
    expect(result.stderr).not.toContain('Sup3rSecretPw');
  });
});
