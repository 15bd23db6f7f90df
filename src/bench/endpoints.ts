import { parseConnectionString } from '../config/connection-string.js';
import type { GeoConfig } from '../config/index.js';
import { InputError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

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
      `${flag} simulates a remote ${what} in front of a local one, but ${what} is at ${where}: ` +
        `its latency is real; leave ${flag} out`,
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

type ServiceBusConfig = GeoConfig['servicebus'];
type StorageConfig = GeoConfig['storage'];

/** Where a Service Bus connection string points; undefined for Entra ID (a namespace name). */
export function serviceBusEndpoint(config: ServiceBusConfig): HostPort | undefined {
  const endpoint = connectionField(config.connectionString, 'Endpoint');
  if (!endpoint) return undefined;
  const url = new URL(endpoint.replace(/^sb:/i, 'http:'));
  const emulator = /^true$/i.test(connectionField(config.connectionString, 'UseDevelopmentEmulator') ?? '');
  // Without the emulator flag the SDK speaks AMQP over TLS on 5671.
  return { host: url.hostname, port: Number(url.port || (emulator ? 5672 : 5671)) };
}

export function serviceBusVia(config: ServiceBusConfig, via: HostPort): ServiceBusConfig {
  const cs = config.connectionString ?? '';
  return { ...config, connectionString: cs.replace(/(Endpoint=sb:\/\/)[^;/]+/i, `$1${via.host}:${via.port}`) };
}

/** Where a Storage Queue configuration points: QueueEndpoint= of a connection string, or the account URL. */
export function storageEndpoint(config: StorageConfig): HostPort | undefined {
  const endpoint = config.connectionString ? connectionField(config.connectionString, 'QueueEndpoint') : config.accountUrl;
  if (!endpoint) return undefined;
  const url = new URL(endpoint);
  return { host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
}

export function storageVia(config: StorageConfig, via: HostPort): StorageConfig {
  const swap = (endpoint: string) => {
    const url = new URL(endpoint);
    url.hostname = via.host;
    url.port = String(via.port);
    return url.toString().replace(/\/$/, '');
  };
  if (config.connectionString) {
    return {
      ...config,
      connectionString: config.connectionString.replace(/(QueueEndpoint=)([^;]+)/i, (_m, key: string, value: string) => key + swap(value)),
    };
  }
  return { ...config, accountUrl: config.accountUrl ? swap(config.accountUrl) : undefined };
}

function connectionField(connectionString: string | undefined, name: string): string | undefined {
  return parseConnectionString(connectionString ?? '').get(name);
}
