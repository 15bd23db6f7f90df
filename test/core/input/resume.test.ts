import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo, startGeo } from '../../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../../support/db.js';
import { waitFor } from '../../support/wait.js';

const TILES = 50_000;

let db: TestDatabase;
let dir: string;
let env: Record<string, string>;
let input: string;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-resume-'));
  // TMPDIR: the killed submit cannot remove its item spool; it is left in this test's folder, removed below.
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(dir, 'home'), GEO_LEASE_SECONDS: '2', TMPDIR: dir };
  input = path.join(dir, 'tiles.ndjson');
  const lines = Array.from({ length: TILES }, (_, i) => JSON.stringify({ z: 12, x: Math.floor(i / 500), y: i % 500 }));
  await fs.writeFile(input, `${lines.join('\n')}\n`);
});
afterAll(async () => {
  await db.drop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function written(): Promise<number> {
  const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM tasks');
  return rows[0].n;
}

async function stage1(): Promise<{ jobId: string; status: string; written: number; leaseLapsed: boolean }> {
  const { rows } = await db.pool.query(
    `SELECT s.job_id AS "jobId", s.status, (SELECT count(*)::int FROM tasks t WHERE t.job_id = s.job_id) AS written,
            coalesce(s.claimed_until < now(), true) AS "leaseLapsed"
     FROM stages s WHERE s.stage = 1`,
  );
  expect(rows).toHaveLength(1);
  return rows[0];
}

describe('an item stage that was only partly written', () => {
  it('is reported by retry-pending as needing the file, and finished by the same submit --input', async () => {
    // Small batches, one group at a time: writing takes long enough to be killed in the middle, as a crash would.
    const first = startGeo(['submit', 'tiles', '--input', input, '--batch-size', '10', '--concurrency', '1', '--json'], env);
    try {
      await waitFor('the submit to have written some tasks', async () => ((await written()) > 0 ? true : undefined), { timeoutMs: 60_000 });
    } finally {
      first.child.kill('SIGKILL');
    }
    expect((await first.done).signal).toBe('SIGKILL');
    const crashed = await stage1();
    expect(crashed.status).toBe('queuing');
    expect(crashed.written).toBeGreaterThan(0);
    expect(crashed.written).toBeLessThan(TILES);
    await waitFor("the dead writer's stage lease to lapse", async () => (await stage1()).leaseLapsed || undefined, { timeoutMs: 10_000 });

    const sweep = await runGeo(['retry-pending', '--json'], env);
    const report = parseJsonOutput<{ stages: Array<Record<string, unknown>> }>(sweep);
    expect(report.stages).toEqual([
      expect.objectContaining({
        jobId: crashed.jobId,
        stage: 1,
        finished: false,
        expectedTasks: TILES,
        writtenTasks: crashed.written,
        error: {
          code: 'INPUT_REQUIRED',
          message: 'stage 1 of this tiles job is built from an input file; run geo submit tiles --input FILE again with the same file to finish it',
        },
      }),
    ]);
    const queueStage = await runGeo(['queue-stage', crashed.jobId, '1'], env);
    expect(queueStage.code).toBe(2);
    expect(queueStage.stderr).toMatch(/run geo submit tiles --input FILE again with the same file/);
    expect((await stage1()).written).toBe(crashed.written);

    const again = await runGeo(['submit', 'tiles', '--input', input, '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(parseJsonOutput(again)).toMatchObject({
      jobId: crashed.jobId,
      jobCreated: false,
      tasks: TILES,
      queued: TILES,
      createdTasks: TILES - crashed.written,
    });
    expect(await stage1()).toMatchObject({ jobId: crashed.jobId, status: 'processing', written: TILES });
  });
});
