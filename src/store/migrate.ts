import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { InputError } from '../errors.js';
import type { Pool, Queryable } from './pool.js';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
// Any fixed number works; it only has to be the same in every geo process.
const MIGRATION_LOCK_KEY = 4_250_001;

interface Migration {
  version: number;
  name: string;
}

/**
 * Applies the numbered SQL files in migrations/ that this database has not
 * seen, each in its own transaction. An advisory lock serialises processes
 * that start at once; the second one finds the work done.
 */
export async function migrate(pool: Pool): Promise<{ applied: string[] }> {
  const migrations = await loadMigrations();
  const before = await appliedVersions(pool);
  refuseUnknown(before, migrations);
  if (migrations.every((m) => before.some((v) => v.version === m.version))) return { applied: [] };

  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    // Again under the lock: a newer geo may have migrated since the first look.
    const current = await appliedVersions(client);
    refuseUnknown(current, migrations);
    await client.query(`CREATE TABLE IF NOT EXISTS geo_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set(current.map((r) => r.version));
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(await fs.readFile(`${MIGRATIONS_DIR}${migration.name}.sql`, 'utf8'));
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

interface AppliedVersion {
  version: number;
  name: string;
}

/** What geo_migrations records; nothing for a database geo has never touched. */
async function appliedVersions(db: Queryable): Promise<AppliedVersion[]> {
  const table = await db.query<{ name: string | null }>(`SELECT to_regclass('geo_migrations')::text AS name`);
  if (!table.rows[0]?.name) return [];
  const { rows } = await db.query<AppliedVersion>('SELECT version, name FROM geo_migrations ORDER BY version');
  return rows;
}

/**
 * A database migrated by a newer geo has versions this build does not know.
 * Running against it could write rows the newer schema forbids or
 * misreads, so refuse before anything is written (exit 2).
 */
function refuseUnknown(applied: AppliedVersion[], migrations: Migration[]): void {
  const known = new Set(migrations.map((m) => m.version));
  const unknown = applied.filter((a) => !known.has(a.version));
  if (unknown.length === 0) return;
  const databaseVersion = Math.max(...applied.map((a) => a.version));
  const buildVersion = migrations.at(-1)?.version ?? 0;
  throw new InputError(
    'SCHEMA_TOO_NEW',
    `the database schema is at version ${databaseVersion}, but this geo knows versions up to ${buildVersion} ` +
      `(unknown: ${unknown.map((u) => u.name).join(', ')}): it was migrated by a newer geo; ` +
      'upgrade geo, or point DATABASE_URL at another database',
  );
}

/** The migrations this build has, by name; a file is read only when it is to be applied (most runs apply none). */
async function loadMigrations(): Promise<Migration[]> {
  const files = (await fs.readdir(MIGRATIONS_DIR)).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  return files.map((file) => ({ version: Number(file.split('_')[0]), name: file.replace(/\.sql$/, '') }));
}
