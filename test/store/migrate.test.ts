import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GeoError } from '../../src/errors.js';
import { migrate } from '../../src/store/migrate.js';
import { parseJsonOutput, runGeo } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const MIGRATIONS = path.resolve(import.meta.dirname, '../../migrations');
/** A version no build of geo has: what a newer geo would have recorded. */
const FUTURE = 9001;

let db: TestDatabase;
let latest: number;
beforeAll(async () => {
  db = await createTestDatabase();
  const files = (await fs.readdir(MIGRATIONS)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  latest = Number(files.at(-1)!.split('_')[0]);
});
afterAll(async () => {
  await db.drop();
});

async function recorded(): Promise<number[]> {
  const { rows } = await db.pool.query<{ version: number }>('SELECT version FROM geo_migrations ORDER BY version');
  return rows.map((r) => r.version);
}

/** What a newer geo leaves in geo_migrations. */
async function recordFutureVersion(): Promise<void> {
  await db.pool.query('INSERT INTO geo_migrations (version, name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [FUTURE, `${FUTURE}_from_a_newer_geo`]);
}

describe('migrations against a schema newer than this build', () => {
  it('a database this build migrated is left alone by the next run', async () => {
    const before = await recorded();
    expect(before.at(-1)).toBe(latest);
    expect(await migrate(db.pool)).toEqual({ applied: [] });
    expect(await recorded()).toEqual(before);
  });

  it('refuses with both versions named and applies nothing, even a migration of its own still missing', async () => {
    // A newer geo recorded FUTURE. The row of this build's latest migration is
    // removed too: a migrate that did not refuse first would try to apply it
    // (and fail on its existing tables with a different error).
    await recordFutureVersion();
    const removed = await db.pool.query<{ name: string }>('DELETE FROM geo_migrations WHERE version = $1 RETURNING name', [latest]);
    const before = await recorded();

    const err = await migrate(db.pool).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GeoError);
    expect(err).toMatchObject({ code: 'SCHEMA_TOO_NEW', kind: 'input' });
    const message = (err as Error).message;
    expect(message).toContain(`schema is at version ${FUTURE}`);
    expect(message).toContain(`knows versions up to ${latest}`);
    expect(message).toContain(`${FUTURE}_from_a_newer_geo`);
    expect(await recorded()).toEqual(before);

    await db.pool.query('INSERT INTO geo_migrations (version, name) VALUES ($1, $2)', [latest, removed.rows[0]!.name]);
  });

  it('geo submit against it exits 2 with one line naming both versions, and writes no job', async () => {
    const env = { DATABASE_URL: db.url, GEO_HOME: path.join(os.tmpdir(), 'geo-migrate-test-unused') };
    await recordFutureVersion();
    const before = await recorded();

    const result = await runGeo(['submit', 'hello_world', '--n', '500', '--param', 'name=older-geo', '--json'], env);
    expect(result.code, result.stderr).toBe(2);
    const doc = parseJsonOutput<{ error: { code: string; message: string } }>(result);
    expect(doc.error.code).toBe('SCHEMA_TOO_NEW');
    expect(doc.error.message).toContain(`version ${FUTURE}`);
    expect(doc.error.message).toContain(`up to ${latest}`);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);

    const { rows } = await db.pool.query('SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM tasks) + (SELECT count(*) FROM batches) AS n');
    expect(rows[0].n).toBe(0);
    expect(await recorded()).toEqual(before);
  });
});
