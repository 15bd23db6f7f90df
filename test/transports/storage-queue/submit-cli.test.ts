import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTaskMessage } from '../../../src/transports/message.js';
import { type Azurite, DEV_KEY, drainQueue, queueClientFor, startAzurite } from '../../support/azurite.js';
import { parseJsonOutput, runGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { taskStatusCounts, writePendingJob } from '../../support/submit.js';

let azurite: Azurite;
let db: TestDatabase;
let home: string;

beforeAll(async () => {
  [azurite, db, home] = await Promise.all([startAzurite(), createTestDatabase(), fs.mkdtemp(path.join(os.tmpdir(), 'geo-sq-cli-'))]);
});

afterAll(async () => {
  // Every clean-up runs to its end before the first failure is reported.
  const results = await Promise.allSettled([azurite?.dispose(), db?.drop(), home && fs.rm(home, { recursive: true, force: true })]);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
});

function geo(args: string[], env: Record<string, string> = {}) {
  return runGeo(args, {
    DATABASE_URL: db.url,
    GEO_HOME: home,
    GEO_STORAGE_CONNECTION_STRING: azurite.connectionString,
    ...env,
  });
}

async function jobCount(): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM jobs');
  return rows[0]!.n;
}

const taskStatuses = (jobId: string) => taskStatusCounts(db.pool, jobId);

interface SubmitJson {
  jobId: string;
  transport: string;
  tasks: number;
  queued: number;
  pendingQueue: number;
  failed: number;
}

describe('geo submit --transport storage-queue', () => {
  it('refuses a missing queue with exit 2, naming it, before writing anything; --create-queue creates it', async () => {
    const before = await jobCount();
    const missing = await geo(['submit', 'hello_world', '--n', '10', '--transport', 'storage-queue', '--json'], {
      GEO_STORAGE_QUEUE: 'not-there',
    });
    expect(missing.code).toBe(2);
    const error = parseJsonOutput<{ error: { code: string; message: string } }>(missing).error;
    expect(error.code).toBe('QUEUE_NOT_FOUND');
    expect(error.message).toContain('not-there');
    expect(error.message).toContain(azurite.accountName);
    expect(error.message).toContain('--create-queue');
    expect(await jobCount()).toBe(before);

    const created = await geo(['submit', 'hello_world', '--n', '10', '--transport', 'storage-queue', '--create-queue', '--json'], {
      GEO_STORAGE_QUEUE: 'not-there',
    });
    expect(created.code).toBe(0);
    expect(parseJsonOutput<SubmitJson>(created).queued).toBe(10);
    expect(await drainQueue(queueClientFor(azurite, 'not-there'), { expected: 10 })).toHaveLength(10);
  });

  it('delivers 2,000 tasks exactly once as base64 JSON that validates, and marks them all queued', async () => {
    await queueClientFor(azurite, 'two-thousand').create();
    const result = await geo(['submit', 'hello_world', '--n', '2000', '--transport', 'storage-queue', '--json'], {
      GEO_STORAGE_QUEUE: 'two-thousand',
    });
    expect(result.code, result.stderr).toBe(0);
    const summary = parseJsonOutput<SubmitJson>(result);
    expect(summary).toMatchObject({ transport: 'storage-queue', tasks: 2000, queued: 2000, pendingQueue: 0, failed: 0 });

    const texts = await drainQueue(queueClientFor(azurite, 'two-thousand'), { expected: 2000 });
    const messages = texts.map((t) => parseTaskMessage(Buffer.from(t, 'base64').toString('utf8')));
    const ids = messages.map((m) => m.taskId);
    expect(ids).toHaveLength(2000);
    expect(new Set(ids).size).toBe(2000);
    expect(messages.every((m) => m.jobId === summary.jobId && m.stage === 1 && m.taskType === 'greeting')).toBe(true);
    expect(await taskStatuses(summary.jobId)).toEqual({ queued: 2000 });
  });

  it('sends the raw JSON with --message-encoding text', async () => {
    await queueClientFor(azurite, 'as-text').create();
    const result = await geo(
      ['submit', 'hello_world', '--n', '150', '--param', 'name=text', '--transport', 'storage-queue', '--message-encoding', 'text', '--json'],
      { GEO_STORAGE_QUEUE: 'as-text' },
    );
    expect(result.code, result.stderr).toBe(0);
    const texts = await drainQueue(queueClientFor(azurite, 'as-text'), { expected: 150 });
    expect(new Set(texts.map((t) => parseTaskMessage(t).taskId)).size).toBe(150);
    expect(texts[0]!.startsWith('{')).toBe(true);
  });

  it('exits 3 on a wrong key, naming account and queue, never printing a key, writing nothing', async () => {
    await queueClientFor(azurite, 'locked').create();
    const wrongKey = crypto.randomBytes(64).toString('base64');
    const before = await jobCount();
    for (const json of [true, false]) {
      const result = await geo(['submit', 'hello_world', '--n', '10', '--transport', 'storage-queue', ...(json ? ['--json'] : [])], {
        GEO_STORAGE_QUEUE: 'locked',
        GEO_STORAGE_CONNECTION_STRING: azurite.connectionStringWithKey(wrongKey),
      });
      expect(result.code).toBe(3);
      const output = result.stdout + result.stderr;
      expect(output).toContain('locked');
      expect(output).toContain(azurite.accountName);
      expect(output).toContain('GEO_STORAGE_CONNECTION_STRING');
      expect(output).not.toContain(wrongKey);
      expect(output).not.toContain(DEV_KEY);
    }
    expect(await jobCount()).toBe(before);
  });

  it('exits 2 naming both variables when no storage credentials are configured', async () => {
    const result = await geo(['submit', 'hello_world', '--n', '10', '--transport', 'storage-queue'], { GEO_STORAGE_CONNECTION_STRING: '' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('GEO_STORAGE_CONNECTION_STRING');
    expect(result.stderr).toContain('GEO_STORAGE_ACCOUNT_URL');
  });
});

describe('a storage queue that does not exist', () => {
  it('each command suggests only steps it has: retry-pending the az command (it has no --create-queue), queue-stage its --create-queue', async () => {
    const jobId = await writePendingJob(db.pool, { n: 200, name: 'queue-gone' }, 'storage-queue');
    const missing = { GEO_STORAGE_QUEUE: 'gone-queue' };

    const swept = await geo(['retry-pending', '--job', jobId.slice(0, 12), '--json'], missing);
    expect(swept.code, swept.stderr).toBe(2);
    const [unreachable] = parseJsonOutput<{ unreachable: Array<{ jobId: string; reason: string }> }>(swept).unreachable;
    expect(unreachable!.jobId).toBe(jobId);
    expect(unreachable!.reason).toContain(`storage queue gone-queue in account ${azurite.accountName} does not exist`);
    expect(unreachable!.reason).toContain(`az storage queue create --name gone-queue --account-name ${azurite.accountName}`);
    expect(swept.stdout + swept.stderr).not.toContain('--create-queue');
    const human = await geo(['retry-pending', '--job', jobId.slice(0, 12)], missing);
    expect(human.code).toBe(2);
    expect(human.stdout).toContain('does not exist; create it (az storage queue create');
    expect(human.stdout + human.stderr).not.toContain('--create-queue');

    const queued = await geo(['queue-stage', jobId.slice(0, 12), '1', '--json'], missing);
    expect(queued.code).toBe(2);
    const { error } = parseJsonOutput<{ error: { code: string; message: string } }>(queued);
    expect(error.code).toBe('QUEUE_NOT_FOUND');
    expect(error.message).toMatch(
      /does not exist; create it \(az storage queue create .*\), or name another with GEO_STORAGE_QUEUE, or run this command again with --create-queue$/,
    );
    expect(await taskStatusCounts(db.pool, jobId)).toEqual({ pending_queue: 200 });
  });
});
