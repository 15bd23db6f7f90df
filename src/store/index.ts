import { ensureEmbeddedServer } from './embedded/server.js';
import { migrate } from './migrate.js';
import { openPool, type Pool } from './pool.js';

export interface OpenStoreOptions {
  /** PostgreSQL to use; unset = the embedded server under `home`. */
  databaseUrl?: string;
  home: string;
  poolSize?: number;
  onNotice?: (message: string) => void;
}

/** Connects to PostgreSQL (starting the embedded server if needed) and brings the schema up to date. */
export async function openStore(options: OpenStoreOptions): Promise<Pool> {
  const connectionString =
    options.databaseUrl ?? (await ensureEmbeddedServer({ home: options.home, onNotice: options.onNotice })).connectionString;
  const pool = await openPool({ connectionString, max: options.poolSize });
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return pool;
}
