import { describe, expect, it } from 'vitest';
import * as ep from '../../src/bench/endpoints.js';
import { loadConfig } from '../../src/config/index.js';
import { transportKind } from '../../src/transports/index.js';

const serviceBus = transportKind('servicebus').queue!;
const storage = transportKind('storage-queue').queue!;

const via = { host: '127.0.0.1', port: 4000 };

describe('routing a bench through the latency proxy', () => {
  it('points a database URL at the proxy and keeps everything else', () => {
    const url = 'postgresql://geo:s3cret@127.0.0.1:5432/geo?sslmode=disable';
    expect(ep.databaseEndpoint(url)).toEqual({ host: '127.0.0.1', port: 5432 });
    expect(ep.databaseUrlVia(url, via)).toBe('postgresql://geo:s3cret@127.0.0.1:4000/geo?sslmode=disable');
    expect(ep.databaseEndpoint('postgres://u@localhost/db')).toEqual({ host: 'localhost', port: 5432 });
  });

  it('sets the bench schema as the search_path, beside options already given', () => {
    const plain = new URL(ep.databaseUrlWithSchema('postgresql://u@h/db', 'geo_bench_ab12cd34'));
    expect(plain.searchParams.get('options')).toBe('-c search_path=geo_bench_ab12cd34');
    const withOptions = new URL(ep.databaseUrlWithSchema('postgresql://u@h/db?options=-c%20work_mem%3D64MB', 'geo_bench_ab12cd34'));
    expect(withOptions.searchParams.get('options')).toBe('-c work_mem=64MB -c search_path=geo_bench_ab12cd34');
  });

  it('rewrites the Service Bus endpoint of a connection string', () => {
    const config = loadConfig({
      GEO_SERVICEBUS_CONNECTION_STRING: 'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=k;SharedAccessKey=a=b;UseDevelopmentEmulator=true;',
    });
    expect(serviceBus.endpoint(config)).toEqual({ host: '127.0.0.1', port: 5672 });
    expect(serviceBus.via(config, via).servicebus.connectionString).toBe(
      'Endpoint=sb://127.0.0.1:4000;SharedAccessKeyName=k;SharedAccessKey=a=b;UseDevelopmentEmulator=true;',
    );
    const azure = loadConfig({ GEO_SERVICEBUS_CONNECTION_STRING: 'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=x' });
    expect(serviceBus.endpoint(azure)).toEqual({ host: 'ns.servicebus.windows.net', port: 5671 });
    expect(serviceBus.endpoint(loadConfig({ GEO_SERVICEBUS_NAMESPACE: 'ns' }))).toBeUndefined();
  });

  it("rewrites Azurite's QueueEndpoint, or an account URL", () => {
    const cs = 'DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=k==;QueueEndpoint=http://127.0.0.1:10001/dev;';
    const config = loadConfig({ GEO_STORAGE_CONNECTION_STRING: cs });
    expect(storage.endpoint(config)).toEqual({ host: '127.0.0.1', port: 10001 });
    expect(storage.via(config, via).storage.connectionString).toBe(
      'DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=k==;QueueEndpoint=http://127.0.0.1:4000/dev;',
    );
    const byUrl = loadConfig({ GEO_STORAGE_ACCOUNT_URL: 'http://localhost:10001/dev' });
    expect(storage.via(byUrl, via).storage.accountUrl).toBe('http://127.0.0.1:4000/dev');
    const azure = loadConfig({ GEO_STORAGE_CONNECTION_STRING: 'AccountName=a;AccountKey=k;EndpointSuffix=core.windows.net' });
    expect(storage.endpoint(azure)).toBeUndefined();
  });

  it('refuses to simulate latency in front of a remote endpoint', () => {
    expect(ep.isLoopback('127.0.0.1')).toBe(true);
    expect(ep.isLoopback('[::1]')).toBe(true);
    expect(ep.isLoopback('localhost')).toBe(true);
    expect(ep.isLoopback('db.example.com')).toBe(false);
    expect(() => ep.assertSimulable('--db-latency', 'PostgreSQL', { host: 'db.example.com', port: 5432 })).toThrow(
      /its latency is real; leave --db-latency out/,
    );
    expect(() => ep.assertSimulable('--queue-latency', 'Storage Queue', undefined)).toThrow(/cannot place/);
  });
});
