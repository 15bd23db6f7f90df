import { ensureEmbeddedServer, runningEmbeddedServer } from './embedded/server.js';
import { migrate } from './migrate.js';
import { openPool, type Pool } from './pool.js';

export interface OpenStoreOptions {
  /** PostgreSQL to use; unset = the embedded server under `home`. */
  databaseUrl?: string;
  home: string;
  poolSize?: number;
  onNotice?: (message: string) => void;
}

/**
 * The URL geo connects with: `databaseUrl` when given, else the embedded
 * server's under `home` (started when it is not running). It holds the
 * password: print it only when the user asks for it (`geo db url`).
 */
export async function databaseUrlOf(options: Omit<OpenStoreOptions, 'poolSize'>): Promise<string> {
  return options.databaseUrl ?? (await ensureEmbeddedServer({ home: options.home, onNotice: options.onNotice })).connectionString;
}

/** Connects to PostgreSQL (starting the embedded server if needed) and brings the schema up to date. */
export async function openStore(options: OpenStoreOptions): Promise<Pool> {
  const pool = (await openRunningEmbedded(options)) ?? (await openPool({ connectionString: await databaseUrlOf(options), max: options.poolSize }));
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return pool;
}

/**
 * A pool on the embedded server when it looks running; undefined when there
 * is none or it does not answer. That failure is not reported: the caller
 * then goes the checked way (databaseUrlOf), which starts the server or
 * reports why it cannot.
 */
async function openRunningEmbedded(options: OpenStoreOptions): Promise<Pool | undefined> {
  if (options.databaseUrl) return undefined;
  const running = await runningEmbeddedServer(options.home);
  if (!running) return undefined;
  return openPool({ connectionString: running.connectionString, max: options.poolSize }).catch(() => undefined);
}
