import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Pool } from './pool.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
// Any fixed number works; it only has to be the same in every geo process.
const MIGRATION_LOCK_KEY = 4_250_001;

interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Applies the numbered SQL files in migrations/ that this database has not
 * seen, each in its own transaction. An advisory lock serialises processes
 * that start at once; the second one finds the work done.
 */
export async function migrate(pool: Pool): Promise<{ applied: string[] }> {
  const migrations = await loadMigrations();
  const latest = migrations.at(-1)?.version ?? 0;
  if ((await currentVersion(pool)) >= latest) return { applied: [] };

  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS geo_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM geo_migrations')).rows.map((r) => r.version));
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO geo_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      applied.push(migration.name);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return { applied };
}

async function currentVersion(pool: Pool): Promise<number> {
  const table = await pool.query<{ name: string | null }>(`SELECT to_regclass('geo_migrations')::text AS name`);
  if (!table.rows[0]?.name) return 0;
  const { rows } = await pool.query<{ version: number }>('SELECT coalesce(max(version), 0) AS version FROM geo_migrations');
  return rows[0]?.version ?? 0;
}

async function loadMigrations(): Promise<Migration[]> {
  const files = (await fs.readdir(MIGRATIONS_DIR)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  return Promise.all(
    files.map(async (file) => ({
      version: Number(file.split('_')[0]),
      name: file.replace(/\.sql$/, ''),
      sql: await fs.readFile(MIGRATIONS_DIR + file, 'utf8'),
    })),
  );
}
