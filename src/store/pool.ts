import type { Pool as PgPool, PoolClient as PgPoolClient } from 'pg';
import { DependencyError, GeoError, InputError } from '../errors.js';
import { redact, urlSecrets } from '../secrets/redact.js';
import { clientConfigFor } from './connection-config.js';
import pg from './pg.js';

export type Pool = PgPool;
export type PoolClient = PgPoolClient;
/** Anything that runs a query: a pool, or a client inside a transaction. */
export type Queryable = Pick<PgPool, 'query'>;

// int8 (count(*), sums) as JS numbers: counts here stay far below 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

export interface OpenPoolOptions {
  connectionString: string;
  max?: number;
  /** Shown in pg_stat_activity; default `geo`. */
  applicationName?: string;
}

/**
 * Opens a pool and proves the database answers, so an unreachable server is
 * reported once, up front, as a DependencyError naming host and port (never
 * the password).
 */
export async function openPool(options: OpenPoolOptions): Promise<Pool> {
  const pool = new pg.Pool({
    max: options.max ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 10_000,
    // Lets operators (and the fault tests) tell geo's sessions apart in pg_stat_activity.
    application_name: options.applicationName ?? 'geo',
    // What the URL says wins, as when pg parsed it itself.
    ...clientConfigFor(options.connectionString),
  });
  // A server that goes away under an idle client emits 'error' on the pool;
  // the next query reports it, so an unhandled-error crash is the wrong outcome.
  pool.on('error', () => undefined);
  try {
    const client = await pool.connect();
    client.release();
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw translateConnectError(err, options.connectionString);
  }
  return pool;
}

/** Where a connection string points, safe to print. */
export function describeTarget(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    const database = url.pathname.replace(/^\//, '') || 'postgres';
    return `${url.hostname}:${url.port || '5432'}/${database}`;
  } catch {
    return 'the configured database';
  }
}

export function translateConnectError(err: unknown, connectionString: string): Error {
  const target = describeTarget(connectionString);
  const code = (err as { code?: string }).code;
  const reason = redact(err instanceof Error ? err.message : String(err), urlSecrets(connectionString));
  switch (code) {
    case '28P01':
    case '28000':
      return new DependencyError('DATABASE_AUTH_FAILED', `PostgreSQL at ${target} refused the credentials: ${reason}`, { cause: err });
    case '3D000':
      return new InputError('DATABASE_NOT_FOUND', `PostgreSQL at ${target}: ${reason}`, { cause: err });
    default:
      return new DependencyError('DATABASE_UNREACHABLE', `cannot reach PostgreSQL at ${target}: ${reason}`, { cause: err });
  }
}

const CONNECTION_LOST_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED']);

/**
 * An error that means the database went away mid-run (terminated backend,
 * server shutdown, reset socket): a dependency failure, not a bug.
 */
export function asConnectionLoss(err: unknown): GeoError | undefined {
  // Already classified: a broker's "connection is closed" is not the database's.
  if (err instanceof GeoError) return err.code === 'DATABASE_CONNECTION_LOST' ? err : undefined;
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  if ((code && CONNECTION_LOST_CODES.has(code)) || /Connection terminated|connection is closed/i.test(message)) {
    return new DependencyError('DATABASE_CONNECTION_LOST', `lost the connection to PostgreSQL: ${message}`, { cause: err });
  }
  return undefined;
}
