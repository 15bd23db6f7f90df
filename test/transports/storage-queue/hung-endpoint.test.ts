import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTaskMessage } from '../../../src/transports/message.js';
import { type Azurite, drainQueue, queueClientFor, startAzurite } from '../../support/azurite.js';
import { parseJsonOutput, runGeo, startGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { sleep, waitFor } from '../../support/wait.js';

let azurite: Azurite;
let db: TestDatabase;
let home: string;

beforeAll(async () => {
  [azurite, db, home] = await Promise.all([startAzurite(), createTestDatabase(), fs.mkdtemp(path.join(os.tmpdir(), 'geo-sq-hung-'))]);
});

afterAll(async () => {
  azurite?.resume();
  const failed = (await Promise.allSettled([azurite?.dispose(), db?.drop(), home && fs.rm(home, { recursive: true, force: true })])).find(
    (r) => r.status === 'rejected',
  );
  if (failed) throw failed.reason;
});

const TASKS = 5_000;
const TIMEOUT_MS = 2_000;

function env(timeoutMs = TIMEOUT_MS): Record<string, string> {
  return {
    DATABASE_URL: db.url,
    GEO_HOME: home,
    GEO_TRANSPORT: 'storage-queue',
    GEO_STORAGE_CONNECTION_STRING: azurite.connectionString,
    GEO_STORAGE_QUEUE: 'hung',
    GEO_STORAGE_TIMEOUT_MS: String(timeoutMs),
    GEO_LEASE_SECONDS: '1',
  };
}

/** Task counts by status as every report reads them (a task of a batch acknowledged whole is queued through its batch row). */
async function statusCounts(): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ status: string; n: number }>('SELECT t.status AS status, count(*)::int AS n FROM task_states t GROUP BY 1');
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

describe('a Storage Queue endpoint that stops answering mid-submit', () => {
  it('ends the submit with exit 3, and a re-run after it answers again queues every task', async () => {
    const args = ['submit', 'hello_world', '--n', String(TASKS), '--param', 'name=hung', '--create-queue', '--json'];
    const { child, done } = startGeo(args, env());
    let suspended = false;
    try {
      // Suspend once the submit has queued some tasks and is sending more.
      await waitFor('the submit to queue some tasks (or end)', async () => child.exitCode !== null || ((await statusCounts()).queued ?? 0) > 0, {
        timeoutMs: 60_000,
        intervalMs: 20,
      });
      azurite.suspend();
      suspended = true;
      const stoppedAt = Date.now();
      // The bound: five send attempts of one 2 s timeout each plus backoff come to about 15 s.
      const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const first = await done;
      clearTimeout(killer);
      const waitedMs = Date.now() - stoppedAt;
      expect(first.signal, `killed after ${waitedMs} ms: the submit hung`).toBeNull();
      expect(first.code, first.stderr).toBe(3);
      const error = parseJsonOutput<{ error: { code: string; message: string } }>(first).error;
      expect(error.code).toBe('TRANSPORT_UNAVAILABLE');
      expect(error.message).toMatch(/timed out on storage queue hung/);
      const afterFirst = await statusCounts();
      // It hit the case: some tasks were queued before the endpoint hung, some were left pending.
      expect(afterFirst.queued).toBeGreaterThan(0);
      expect(afterFirst.queued).toBeLessThan(TASKS);
      azurite.resume();
      suspended = false;

      // The first run's 1 s leases lapse, then the same command resumes (with
      // the default timeout: the thawed Azurite first works off the requests
      // it had taken while frozen). Time is the point: the leases must lapse.
      await sleep(1_100);
      const second = await runGeo(args, env(30_000));
      expect(second.code, second.stderr).toBe(0);
      expect(parseJsonOutput(second)).toMatchObject({ tasks: TASKS, queued: TASKS, pendingQueue: 0, failed: 0 });
      expect(await statusCounts()).toEqual({ queued: TASKS });

      // Every task is on the queue. (Copies are possible: Storage Queue has no
      // duplicate detection, and a send that timed out after Azurite had taken
      // it, just before it froze or while the machine was slow, was sent again.)
      const arrived = (await drainQueue(queueClientFor(azurite, 'hung'), { expected: TASKS, receivers: 8 })).map(
        (t) => parseTaskMessage(Buffer.from(t, 'base64').toString('utf8')).taskId,
      );
      expect(new Set(arrived).size).toBe(TASKS);
    } finally {
      if (suspended) azurite.resume();
      child.kill('SIGKILL');
    }
  }, 180_000);
});
