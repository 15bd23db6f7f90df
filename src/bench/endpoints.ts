import { InputError } from '../errors.js';
import type { HostPort } from '../transports/index.js';

export type { HostPort } from '../transports/index.js';

/**
 * The latency proxy forwards plain TCP on loopback. A remote endpoint speaks
 * TLS whose certificate names the real host, so it cannot sit behind a
 * loopback proxy, and its latency is real anyway.
 */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** Refuses a latency flag for an endpoint that is not on this machine. */
export function assertSimulable(flag: string, what: string, endpoint: HostPort | undefined): HostPort {
  if (!endpoint || !isLoopback(endpoint.host)) {
    const where = endpoint ? `${endpoint.host}:${endpoint.port}` : 'an endpoint geo cannot place';
    throw new InputError(
      'BENCH_LATENCY_NOT_LOCAL',
      `${flag} simulates a remote ${what} in front of a local one, but ${what} is at ${where}: ` + `its latency is real; leave ${flag} out`,
    );
  }
  return endpoint;
}

export function databaseEndpoint(url: string): HostPort {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 5432) };
}

/** The same database URL with host and port replaced (the proxy's). */
export function databaseUrlVia(url: string, via: HostPort): string {
  const parsed = new URL(url);
  parsed.hostname = via.host;
  parsed.port = String(via.port);
  return parsed.toString();
}

/**
 * The database URL with a session search_path of `schema` only (libpq's
 * `options`, which node-postgres passes in the startup message), so every
 * unqualified table name of geo's SQL resolves in the bench schema.
 */
export function databaseUrlWithSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  const existing = parsed.searchParams.get('options');
  parsed.searchParams.set('options', `${existing ? `${existing} ` : ''}-c search_path=${schema}`);
  return parsed.toString();
}
