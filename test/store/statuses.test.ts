import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BATCH_STATUSES, JOB_STATUSES, STAGE_STATUSES, TASK_STATUSES } from '../../src/statuses.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** The values a table's CHECK constraint on `status` allows, as the database holds it. */
async function allowedStatuses(table: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ def: string }>(
    `SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c
     WHERE c.conrelid = $1::regclass AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE '%status%'`,
    [table],
  );
  expect(rows).toHaveLength(1);
  return [...rows[0]!.def.matchAll(/'([a-z_]+)'::text/g)].map((m) => m[1]!);
}

describe('statuses are defined once', () => {
  it.each([
    ['tasks', TASK_STATUSES],
    ['batches', BATCH_STATUSES],
    ['stages', STAGE_STATUSES],
    ['jobs', JOB_STATUSES],
  ] as const)('the CHECK constraint of %s allows exactly the statuses of src/statuses.ts', async (table, statuses) => {
    expect((await allowedStatuses(table)).sort()).toEqual([...statuses].sort());
  });

  it('every status literal in the store SQL is one of the defined statuses', async () => {
    const known = new Set<string>([...TASK_STATUSES, ...BATCH_STATUSES, ...STAGE_STATUSES, ...JOB_STATUSES]);
    const dir = path.resolve(import.meta.dirname, '../../src/store');
    const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.ts'));
    const unknown: string[] = [];
    for (const file of files) {
      const text = await fs.readFile(path.join(dir, file), 'utf8');
      for (const match of text.matchAll(/status\s*(?:=|<>)\s*'([a-z_]+)'/g)) {
        if (!known.has(match[1]!)) unknown.push(`${file}: ${match[1]}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});
