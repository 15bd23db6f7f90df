import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
let dir: string;
let env: Record<string, string>;
beforeAll(async () => {
  db = await createTestDatabase();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'geo-mismatch-'));
  env = { DATABASE_URL: db.url, GEO_HOME: path.join(dir, 'home') };
  // count() declares `declared`; tasks() yields `yielded`, in batches of 100 so some are written first.
  await fs.writeFile(
    path.join(dir, 'miscount.mjs'),
    `import { defineJobType, integer, z } from 'geo/job-types';
export const miscount = defineJobType({
  name: 'miscount',
  params: z.object({ declared: integer({ min: 0 }), yielded: integer({ min: 0 }) }).strict(),
  stages: [{
    from: 'params',
    name: 'count',
    count: (p) => p.declared,
    *tasks(p) { for (let i = 0; i < p.yielded; i++) yield { key: 't-' + i, parameters: { i } }; },
    handler: () => null,
  }],
});
`,
  );
});
afterAll(async () => {
  await db.drop();
  await fs.rm(dir, { recursive: true, force: true });
});

async function rows(): Promise<Record<string, number>> {
  const { rows: r } = await db.pool.query(
    `SELECT (SELECT count(*)::int FROM jobs) AS jobs, (SELECT count(*)::int FROM stages) AS stages,
            (SELECT count(*)::int FROM batches) AS batches, (SELECT count(*)::int FROM tasks) AS tasks`,
  );
  return r[0];
}

describe('a job type that yields a different number of tasks than count() declared (real binary)', () => {
  it.each([
    ['fewer', 500, 300, 'yielded 300'],
    ['more', 300, 500, 'yielded more than 300'],
  ])('yielding %s: exit 2, the mismatch named, and nothing written (no job, stage, batch or task)', async (_what, declared, yielded, said) => {
    const result = await runGeo(
      ['--job-types', path.join(dir, 'miscount.mjs'), 'submit', 'miscount', '--param', `declared=${declared}`, '--param', `yielded=${yielded}`, '--json'],
      env,
    );
    expect(result.code, result.stderr).toBe(2);
    const { error } = parseJsonOutput<{ error: { code: string; message: string } }>(result);
    expect(error.code).toBe('JOB_TYPE_INVALID');
    expect(error.message).toContain(`count() declared ${declared} tasks but tasks() ${said}`);
    expect(error.message).toContain('nothing was written');
    expect(await rows()).toEqual({ jobs: 0, stages: 0, batches: 0, tasks: 0 });
    // Nothing for a cron run to trip over either.
    const swept = await runGeo(['--job-types', path.join(dir, 'miscount.mjs'), 'retry-pending', '--json'], env);
    expect(swept.code, swept.stderr).toBe(0);
  });
});
