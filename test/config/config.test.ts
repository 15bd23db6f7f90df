import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { prepareJob } from '../../src/core/prepare-job.js';
import { InputError } from '../../src/errors.js';

describe('loadConfig', () => {
  it('uses defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config.databaseUrl).toBeUndefined();
    expect(config.transport).toBeUndefined();
    expect(config.leaseSeconds).toBe(60);
    expect(config.servicebus.queue).toBe('geo-tasks');
    expect(config.storage.queue).toBe('geo-tasks');
  });

  it('lets flags given override the environment', () => {
    const config = loadConfig({ GEO_TRANSPORT: 'servicebus' }, { transport: 'local' });
    expect(config.transport).toBe('local');
  });

  it('rejects a malformed DATABASE_URL naming the variable', () => {
    expect(() => loadConfig({ DATABASE_URL: 'not a url' })).toThrow(/DATABASE_URL: must be a postgres/);
    expect(() => loadConfig({ DATABASE_URL: 'mysql://x@y/z' })).toThrow(InputError);
  });

  it('rejects an unknown transport and a bad lease', () => {
    expect(() => loadConfig({ GEO_TRANSPORT: 'kafka' })).toThrow(/GEO_TRANSPORT/);
    expect(() => loadConfig({ GEO_LEASE_SECONDS: '0' })).toThrow(/GEO_LEASE_SECONDS/);
  });

  it('reports every bad value at once, each named as the user gave it: the flag when given, else the variable', () => {
    let message = '';
    try {
      loadConfig({ GEO_LEASE_SECONDS: '1.5', GEO_TRANSPORT: 'kafka', GEO_LOG_LEVEL: 'loud' }, { logFormat: 'xml' });
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      message = (err as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'GEO_TRANSPORT: unknown transport "kafka": use local, servicebus or storage-queue',
      'GEO_LEASE_SECONDS: must be a whole number from 1 to 86400 (got "1.5")',
      '--log-format: must be human or json (got "xml")',
      'GEO_LOG_LEVEL: must be debug, info, warn, error or silent (got "loud")',
    ]);
  });

  it('bounds Storage Queue requests by GEO_STORAGE_TIMEOUT_MS, 30 s unless set', () => {
    expect(loadConfig({}).storage.timeoutMs).toBe(30_000);
    expect(loadConfig({ GEO_STORAGE_TIMEOUT_MS: '2500' }).storage.timeoutMs).toBe(2_500);
    expect(() => loadConfig({ GEO_STORAGE_TIMEOUT_MS: 'soon' })).toThrow(/GEO_STORAGE_TIMEOUT_MS/);
  });
});

describe('prepareJob', () => {
  it('validates hello_world parameters given as strings', () => {
    const job = prepareJob('hello_world', { n: '5' });
    expect(job.parameters).toEqual({ n: 5, name: 'World' });
  });

  it.each([
    [{}, /n: /],
    [{ n: '0' }, /n: must be at least 1/],
    [{ n: '-3' }, /n: must be at least 1/],
    [{ n: '1.5' }, /n: must be a whole number/],
    [{ n: 'ten' }, /n: must be a number/],
    [{ n: '10000001' }, /n: must be at most 10,000,000/],
    [{ n: '5', colour: 'red' }, /colour/],
  ])('rejects %j with a specific message', (params, message) => {
    expect(() => prepareJob('hello_world', params)).toThrow(message);
  });

  it('rejects an unknown job type listing the known ones', () => {
    expect(() => prepareJob('nope', { n: '1' })).toThrow(/unknown job type "nope"; known job types: hello_world/);
  });
});
