import crypto from 'node:crypto';
import { inject } from 'vitest';
import { migrate } from '../../src/store/migrate.js';
import { openPool, type Pool } from '../../src/store/pool.js';
import { admin, withDatabase } from './admin.js';

export interface TestDatabase {
  url: string;
  pool: Pool;
  /** Drops the database; call it in afterAll. */
  drop(): Promise<void>;
}

/** A fresh, migrated database of its own for one test file. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `geo_test_${crypto.randomBytes(5).toString('hex')}`;
  await admin(adminUrl, `CREATE DATABASE ${name}`);
  const url = withDatabase(adminUrl, name);
  const pool = await openPool({ connectionString: url, max: 12, applicationName: 'geo-test' });
  await migrate(pool);
  return {
    url,
    pool,
    async drop() {
      await pool.end();
      await admin(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}
